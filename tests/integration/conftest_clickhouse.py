"""Session fixture: one real chdb-backed ClickHouse HTTP endpoint on a free port.

The server runs as its own process (``python -m localstack.clickhouse_http``) on a temporary
data directory, exactly as ``cairn up`` runs it, and is stopped by PID at the end (SIGTERM,
then SIGKILL after a grace period). Tests that need isolation create their own randomly named
tables or databases; tests that must stop a server (restart, locking) start their own with
``ServerProcess``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from localstack.clickhouse_http import write_users_file
from localstack.processes import free_port

ADMIN_USER = "cairn"
REPORTING_USER = "reporting"
REPO_ROOT = Path(__file__).resolve().parents[2]


def _pythonpath() -> str:
    """This checkout first, so the server runs the code under test."""
    existing = os.environ.get("PYTHONPATH")
    return f"{REPO_ROOT}{os.pathsep}{existing}" if existing else str(REPO_ROOT)


@dataclass(frozen=True)
class ClickHouseEndpoint:
    host: str
    port: int
    admin_user: str
    admin_password: str
    reporting_user: str
    reporting_password: str
    data_dir: Path
    pid: int

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """Admin URL in the ``CAIRN_CLICKHOUSE_URL`` form (append ``/database`` to choose one)."""
        return f"http://{self.admin_user}:{quote(self.admin_password)}@{self.host}:{self.port}"

    @property
    def reporting_url(self) -> str:
        user, password = self.reporting_user, quote(self.reporting_password)
        return f"http://{user}:{password}@{self.host}:{self.port}"


class ServerProcess:
    """One endpoint process on ``data_dir``; its stderr (JSON log lines) goes to ``log_path``."""

    def __init__(self, data_dir: Path, users_file: Path, *, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.users_file = users_file
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.log_path = data_dir.parent / f"{data_dir.name}-server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def launch(self) -> subprocess.Popen[bytes]:
        argv = [
            sys.executable,
            "-m",
            "localstack.clickhouse_http",
            "--data-dir",
            str(self.data_dir),
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--users-file",
            str(self.users_file),
        ]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=REPO_ROOT,
                env={**os.environ, "PYTHONPATH": _pythonpath()},
            )
        return self.proc

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def start(self, timeout: float = 60.0) -> ServerProcess:
        """Launch and wait until /ping answers."""
        proc = self.launch()
        deadline = time.monotonic() + timeout
        url = f"http://{self.host}:{self.port}/ping"
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"clickhouse_http exited with {proc.returncode}:\n{self.log_tail()}"
                )
            with (
                contextlib.suppress(urllib.error.URLError, OSError),
                urllib.request.urlopen(url, timeout=1) as response,
            ):
                if response.read() == b"Ok.\n":
                    return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"clickhouse_http did not answer /ping in {timeout}s:\n{self.log_tail()}"
        )

    def stop(self, grace: float = 20.0) -> int | None:
        """SIGTERM, then SIGKILL after ``grace`` seconds. Returns the exit status."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        return proc.returncode


def make_users_file(directory: Path) -> tuple[Path, str, str]:
    """A users file with a fresh admin and reporting password: (path, admin, reporting)."""
    admin_password = secrets.token_urlsafe(12)
    reporting_password = secrets.token_urlsafe(12)
    path = directory / "clickhouse-users.json"
    write_users_file(
        path,
        {ADMIN_USER: (admin_password, False), REPORTING_USER: (reporting_password, True)},
    )
    return path, admin_password, reporting_password


@pytest.fixture(scope="session")
def clickhouse_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseEndpoint]:
    """A running endpoint with an admin (``cairn``) and a read-only (``reporting``) user."""
    with running_endpoint(tmp_path_factory.mktemp("clickhouse")) as endpoint:
        yield endpoint


@contextlib.contextmanager
def running_endpoint(root: Path) -> Iterator[ClickHouseEndpoint]:
    """An endpoint of its own on a free port, its data under ``root``; stopped on leaving."""
    root.mkdir(parents=True, exist_ok=True)
    users_file, admin_password, reporting_password = make_users_file(root)
    server = ServerProcess(root / "data", users_file).start()
    try:
        yield ClickHouseEndpoint(
            host=server.host,
            port=server.port,
            admin_user=ADMIN_USER,
            admin_password=admin_password,
            reporting_user=REPORTING_USER,
            reporting_password=reporting_password,
            data_dir=server.data_dir,
            pid=server.pid,
        )
    finally:
        server.stop()
