"""The harness side of the driver protocol (see ``peer_drivers/_driver_core.py``).

A :class:`Driver` owns one driver process: it starts it with the system's interpreter, waits for
its ``ready`` line, then exchanges one JSON line per request. Requests can be sent without
waiting (:meth:`Driver.send`) so several drivers work at the same time; replies are read by a
thread per driver into a queue, so a slow driver never blocks the others. A driver that misses a
deadline is killed (its process group), never left running.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DRIVERS_DIR = Path(__file__).resolve().parent / "peer_drivers"


class DriverError(RuntimeError):
    """A driver failed a request, died, or did not answer in time. ``detail`` holds the
    driver's traceback or the end of its log."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


@dataclass(frozen=True)
class DriverSpec:
    """How to start one driver: the system's interpreter, the driver script and its config."""

    python: Path
    script: str  # file name in peer_drivers/
    config: Mapping[str, Any]
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None


# One thread for BLAS in every driver: the MLP must not compete with itself for the two cores.
_QUIET_ENV = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "PYTHONUNBUFFERED": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
}


class Driver:
    def __init__(self, name: str, spec: DriverSpec, log_path: Path, ready_timeout: float = 120):
        self.name = name
        self.spec = spec
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIRTUAL_ENV")}
        env.update(_QUIET_ENV)
        env.update(spec.env)
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    str(spec.python),
                    str(DRIVERS_DIR / spec.script),
                    "--config",
                    json.dumps(dict(spec.config)),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env=env,
                cwd=spec.cwd,
                start_new_session=True,
            )
        self._ids = itertools.count(1)
        self._replies: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._pending: dict[int, dict[str, Any]] = {}
        self._reader = threading.Thread(target=self._read, name=f"driver-{name}", daemon=True)
        self._reader.start()
        ready = self._next(time.monotonic() + ready_timeout, "start")
        if ready.get("event") != "ready":
            self.kill()
            raise DriverError(f"{name}: unexpected first line {ready!r}", self.log_tail())
        self.versions: dict[str, str] = dict(ready.get("versions", {}))
        self.pid = int(ready["pid"])

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            try:
                self._replies.put(json.loads(raw))
            except ValueError:
                continue
        self._replies.put(None)

    def _next(self, deadline: float, what: str) -> dict[str, Any]:
        try:
            item = self._replies.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            self.kill()
            raise DriverError(
                f"{self.name}: no answer to {what} in time", self.log_tail()
            ) from None
        if item is None:
            raise DriverError(f"{self.name}: driver exited during {what}", self.log_tail())
        return item

    def send(self, op: str, args: Mapping[str, Any] | None = None) -> int:
        """Send a request; return its id for :meth:`result`."""
        rid = next(self._ids)
        line = json.dumps({"id": rid, "op": op, "args": dict(args or {})}) + "\n"
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(line.encode())
            self.process.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise DriverError(f"{self.name}: driver is gone ({exc})", self.log_tail()) from exc
        return rid

    def result(self, rid: int, timeout: float) -> dict[str, Any]:
        """The result of request ``rid``; raises :class:`DriverError` if it failed or timed out
        (a timed-out driver is killed)."""
        deadline = time.monotonic() + timeout
        while rid not in self._pending:
            reply = self._next(deadline, f"request {rid}")
            self._pending[int(reply.get("id", -1))] = reply
        reply = self._pending.pop(rid)
        if not reply.get("ok"):
            raise DriverError(f"{self.name}: {reply.get('error')}", str(reply.get("traceback", "")))
        result: dict[str, Any] = reply["result"]
        return result

    def call(
        self, op: str, args: Mapping[str, Any] | None = None, timeout: float = 600
    ) -> dict[str, Any]:
        return self.result(self.send(op, args), timeout)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self, timeout: float = 30) -> None:
        """Ask the driver to exit; kill it if it does not within ``timeout``."""
        if not self.alive:
            return
        try:
            self.call("shutdown", timeout=timeout)
            self.process.wait(timeout=timeout)
        except (DriverError, subprocess.TimeoutExpired):
            self.kill()

    def kill(self) -> None:
        """SIGKILL the driver's process group (it was started in its own session)."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)

    def log_tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def gather(
    calls: Sequence[tuple[Driver, int]], timeout: float
) -> list[dict[str, Any] | DriverError]:
    """Results of requests already sent to several drivers; a failure is returned, not raised,
    so one failing driver does not hide what the others measured."""
    deadline = time.monotonic() + timeout
    results: list[dict[str, Any] | DriverError] = []
    for driver, rid in calls:
        try:
            results.append(driver.result(rid, max(1.0, deadline - time.monotonic())))
        except DriverError as exc:
            results.append(exc)
    return results
