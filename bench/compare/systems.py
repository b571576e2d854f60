"""The systems under comparison: their servers' lifecycles and their drivers.

A :class:`Server` is whatever a system runs besides the training process: Cairn's local stack
(Kafka, ClickHouse endpoint, ingest, processors, portal), ``mlflow server`` on SQLite, Aim's
``aim up`` (its UI, which also keeps the repository's run index that queries read) and, for Aim's
remote mode, ``aim server``. Servers start on free loopback ports in the run's work directory and
are stopped by process group, so nothing is left behind.

A :class:`System` is one way of using a server from training code (e.g. MLflow's synchronous or
asynchronous client) and owns its driver processes: one *control* driver for queries and loads,
and *workers* for the concurrent jobs of workloads 2 and 3.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import psutil

from bench.compare.drivers import Driver, DriverSpec
from localstack.ephemeral import RunningStack
from localstack.processes import free_port, port_open

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 300


class StartError(RuntimeError):
    """A server did not come up; the message carries the end of its log."""


class Visibility(StrEnum):
    CLIENT = "client"  # the client knows when a point is committed (sync write / acked request)
    SERVER = "server"  # only the query side can tell (asynchronous pipeline or remote queue)


class Server(Protocol):
    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def process_roots(self) -> dict[str, int]:
        """Root PIDs of the server's process trees, by part name (for resource sampling)."""

    def diagnose(self) -> str:
        """The last error the server logged ("" if none), to explain a failed measurement."""


def last_error(*logs: Path) -> str:
    """The last line mentioning an error or exception in the given log files."""
    found = ""
    for log in logs:
        try:
            lines = log.read_text(errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            if ("Error" in line or "Exception" in line) and "Warning" not in line:
                found = f"{log.name}: {line.strip()[:400]}"
    return found


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback URL)
            return 200 <= int(response.status) < 500
    except OSError:
        return False


def _wait(
    check: Callable[[], bool],
    what: str,
    process: subprocess.Popen[bytes] | None,
    log: Path,
    timeout: float = START_TIMEOUT_S,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if process is not None and process.poll() is not None:
            break
        time.sleep(0.5)
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:]) if log.exists() else ""
    raise StartError(f"{what} did not become ready:\n{tail}")


def _spawn(
    argv: list[str], log: Path, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as handle:
        return subprocess.Popen(
            argv,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )


def stop_tree(process: subprocess.Popen[bytes] | None, grace: float = 15) -> None:
    """SIGTERM the process's group and every descendant, SIGKILL what is left after ``grace``."""
    if process is None or process.poll() is not None:
        return
    try:
        members = [psutil.Process(process.pid), *psutil.Process(process.pid).children(True)]
    except psutil.Error:
        members = []
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    for member in members:
        with contextlib.suppress(psutil.Error):
            member.terminate()
    _, alive = psutil.wait_procs(members, timeout=grace)
    for member in alive:
        with contextlib.suppress(psutil.Error):
            member.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


@dataclass
class CairnStack:
    """``cairn up`` with every port moved to a free one and all state (data, logs, PIDs,
    credentials) in ``home``."""

    home: Path
    python: Path = Path(sys.executable)
    name: str = "cairn"
    env: dict[str, str] = field(default_factory=dict)
    connection: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what the report should say about startup

    def _cli(self, verb: str, timeout: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.python), "-m", "cairn.cli", verb],
            env=self.env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("CAIRN_CLICKHOUSE_URL", "CAIRN_SQL_URL")
        }
        env.update(
            CAIRN_HOME=str(self.home),
            CAIRN_LOCAL_STACK_FILE=str(self.home / "local-stack.json"),
            CAIRN_LOG_LEVEL="WARNING",
        )
        for variable in (
            "KAFKA_PORT",
            "KAFKA_CONTROLLER_PORT",
            "CLICKHOUSE_PORT",
            "INGEST_PORT",
            "INGEST_METRICS_PORT",
            "PROCESSORS_PORT",
            "PORTAL_PORT",
        ):
            env[f"CAIRN_{variable}"] = str(free_port())
        self.env = env
        done = self._cli("up", START_TIMEOUT_S)
        if done.returncode != 0:
            # One retry from a clean home: a first `up` can fail for reasons that a fresh
            # broker format does not repeat (e.g. a generated cluster id Kafka rejects).
            first = (done.stdout + done.stderr)[-3000:]
            self._cli("down", 240)
            shutil.rmtree(self.home, ignore_errors=True)
            self.home.mkdir(parents=True, exist_ok=True)
            done = self._cli("up", START_TIMEOUT_S)
            if done.returncode != 0:
                raise StartError(
                    f"cairn up failed twice; first:\n{first}\nthen:\n"
                    f"{(done.stdout + done.stderr)[-3000:]}"
                )
            last = [line for line in first.splitlines() if line.strip()][-1:] or [""]
            self.notes.append(
                f"Cairn: `cairn up` failed once and was retried from a clean home ({last[0]})."
            )
        discovery = json.loads((self.home / "local-stack.json").read_text())
        self.connection = {
            "ingest_url": discovery["ingest_url"],
            "api_key": discovery["api_key"],
            "team": discovery["team"],
            "clickhouse_url": RunningStack(dict(env), self.home).admin_clickhouse_url,
        }

    def stop(self) -> None:
        if self.env:
            self._cli("down", 240)

    def diagnose(self) -> str:
        return last_error(*sorted((self.home / "logs").glob("*.log")))

    def process_roots(self) -> dict[str, int]:
        roots = {}
        for pid_file in sorted((self.home / "run").glob("*.pid")):
            try:
                roots[pid_file.stem] = int(pid_file.read_text().strip())
            except (OSError, ValueError):
                continue
        return roots


@dataclass
class MlflowServer:
    """``mlflow server`` on a SQLite backend store, with MLflow's default worker count."""

    workdir: Path
    python: Path
    name: str = "mlflow"
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def db_path(self) -> Path:
        return self.workdir / "data" / "mlflow.db"

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        log = self.workdir / "mlflow-server.log"
        self.process = _spawn(
            [
                str(self.python.parent / "mlflow"),
                "server",
                "--backend-store-uri",
                f"sqlite:///{self.db_path}",
                "--default-artifact-root",
                str(self.workdir / "data" / "artifacts"),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            log,
            cwd=self.workdir,
        )
        _wait(lambda: _http_ok(f"{self.uri}/health"), "mlflow server", self.process, log)

    def stop(self) -> None:
        stop_tree(self.process)

    def process_roots(self) -> dict[str, int]:
        return {"mlflow server": self.process.pid} if self.process else {}

    def diagnose(self) -> str:
        return last_error(self.workdir / "mlflow-server.log")


@dataclass
class AimServer:
    """Aim on a local repository: ``aim up`` (UI and run indexer: without it, queries do not
    see new runs) and, in remote mode, ``aim server`` (the remote tracking server) too."""

    workdir: Path
    python: Path
    remote: bool = False
    name: str = "aim"
    ui_port: int = 0
    tracking_port: int = 0
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def repo(self) -> Path:
        return self.workdir / "data" / "repo"

    @property
    def tracking_uri(self) -> str:
        return f"aim://127.0.0.1:{self.tracking_port}" if self.remote else str(self.repo)

    def start(self) -> None:
        self.repo.mkdir(parents=True, exist_ok=True)
        aim = str(self.python.parent / "aim")
        init = subprocess.run(
            [aim, "init", "--repo", str(self.repo), "-y"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if init.returncode != 0:
            raise StartError(f"aim init failed:\n{(init.stdout + init.stderr)[-2000:]}")
        self.ui_port = free_port()
        log = self.workdir / "aim-up.log"
        self.processes["aim up"] = _spawn(
            [aim, "up", "--repo", str(self.repo), "-h", "127.0.0.1", "-p", str(self.ui_port), "-y"],
            log,
            cwd=self.workdir,
        )
        _wait(
            lambda: _http_ok(f"http://127.0.0.1:{self.ui_port}/"),
            "aim up",
            self.processes["aim up"],
            log,
        )
        if self.remote:
            self.tracking_port = free_port()
            log = self.workdir / "aim-server.log"
            self.processes["aim server"] = _spawn(
                [
                    aim,
                    "server",
                    "--repo",
                    str(self.repo),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.tracking_port),
                    "-y",
                ],
                log,
                cwd=self.workdir,
            )
            _wait(
                lambda: port_open("127.0.0.1", self.tracking_port),
                "aim server",
                self.processes["aim server"],
                log,
            )

    def stop(self) -> None:
        for process in self.processes.values():
            stop_tree(process)

    def process_roots(self) -> dict[str, int]:
        return {name: process.pid for name, process in self.processes.items()}

    def diagnose(self) -> str:
        return last_error(self.workdir / "aim-up.log", self.workdir / "aim-server.log")


@dataclass
class System:
    """One way to use a server from training code, with its driver processes."""

    key: str  # "cairn", "mlflow", "mlflow-sync", "aim", "aim-remote", ...
    label: str
    server: Server
    python: Path
    script: str
    config: dict[str, Any]
    visibility: Visibility
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    load_parallelism: int = 1
    versions: dict[str, str] = field(default_factory=dict)
    _control: Driver | None = None
    _workers: list[Driver] = field(default_factory=list)

    def _spec(self) -> DriverSpec:
        return DriverSpec(self.python, self.script, self.config, self.env, cwd=REPO_ROOT)

    def _start_driver(self, role: str) -> Driver:
        driver = Driver(
            f"{self.key}/{role}", self._spec(), self.workdir / "drivers" / f"{self.key}-{role}.log"
        )
        self.versions.update(driver.versions)
        return driver

    def control(self) -> Driver:
        if self._control is None or not self._control.alive:
            self._control = self._start_driver("control")
        return self._control

    def workers(self, count: int) -> list[Driver]:
        self._workers = [w for w in self._workers if w.alive]
        while len(self._workers) < count:
            self._workers.append(self._start_driver(f"worker{len(self._workers)}"))
        return self._workers[:count]

    def kill_workers(self) -> None:
        """Drop the workers (and any backlog their clients still hold); new ones start on demand."""
        for worker in self._workers:
            worker.kill()
        self._workers = []

    def close(self) -> None:
        for driver in [*self._workers, *([self._control] if self._control else [])]:
            driver.close(timeout=20)
        self._workers, self._control = [], None

    def driver_pids(self) -> list[int]:
        drivers = [*self._workers, *([self._control] if self._control else [])]
        return [d.process.pid for d in drivers if d.alive]
