"""Start, watch and stop the local stack's processes by PID.

Each process gets its own session (process group) so stopping it also stops anything it spawned,
and its output goes to one log file. Stopping is SIGTERM to the group, then SIGKILL after a grace
period: a part that ignores SIGTERM cannot keep ``make down`` or a test session from finishing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from cairn_contract.errors import UnavailableError


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for test fixtures)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def start_process(
    argv: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); reap it if it is ours.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    # A part started by an earlier `cairn up` is init's child once that command exited: it stays
    # a zombie until init reaps it, which some inits (containers, microVMs) do only every ~2 s.
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """True if ``pid`` has exited and waits to be reaped (Linux ``/proc``; False elsewhere)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # "pid (comm) state ...": comm may hold spaces and parentheses, the state follows the last ")".
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def stop_pid(pid: int, *, grace: float = 20.0) -> bool:
    """Stop the process group led by ``pid``. Returns True if it had to be killed."""
    if not pid_alive(pid):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return False
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return True


def stop_process(process: subprocess.Popen[bytes], *, grace: float = 20.0) -> bool:
    """Like :func:`stop_pid` for a child we started, also reaping it. True if it was killed."""
    killed = stop_pid(process.pid, grace=grace)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
    return killed


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log yet)"


def wait_until(
    ready: Callable[[], bool],
    *,
    what: str,
    timeout: float,
    process: subprocess.Popen[bytes] | None = None,
    log_path: Path | None = None,
) -> None:
    """Poll ``ready`` until it is true; fail with the log's tail if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if process is not None and process.poll() is not None:
            tail = log_tail(log_path) if log_path else ""
            raise UnavailableError(f"{what} exited with code {process.returncode}:\n{tail}")
        time.sleep(0.2)
    tail = log_tail(log_path) if log_path else ""
    raise UnavailableError(f"{what} was not ready within {timeout:.0f}s:\n{tail}")
