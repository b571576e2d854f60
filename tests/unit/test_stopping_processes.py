"""``localstack.processes``: how a stopped part is recognised, so ``cairn down`` does not wait on it."""

from __future__ import annotations

import subprocess
import sys
import time

from localstack import processes


def test_an_exited_process_not_yet_reaped_counts_as_a_zombie() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 10
        while not processes._zombie(child.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert processes._zombie(child.pid)
    finally:
        child.wait()


def test_a_running_process_is_alive_and_no_zombie() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert processes.pid_alive(child.pid)
        assert not processes._zombie(child.pid)
    finally:
        child.kill()
        child.wait()
