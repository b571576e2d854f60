"""How runs end when training code does not end them, in real child processes: an uncaught
exception, SIGTERM, Ctrl-C and a plain interpreter exit."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cairn.v1 import runs_pb2
from tests.sdk.helpers import default_signals, payloads, spooled_events


def script(directory: Path, body: str) -> str:
    return textwrap.dedent(
        f"""
        import cairn, sys, time
        run = cairn.init(project="churn", team="vision", mode="offline", capture=False,
                         dir={str(directory)!r})
        print(run.id, flush=True)
        for step in range(10):
            run.log({{"loss": 1.0 / (step + 1)}}, step=step)
        """
    ) + textwrap.dedent(body)


def status_of(directory: Path, run_id: str) -> runs_pb2.RunStatusChanged:
    events = spooled_events(directory / "spool" / run_id)
    assert sum(len(s.values) for m in payloads(events, "metrics") for s in m.series) == 10
    changes = payloads(events, "run_status_changed")
    assert len(changes) == 1, "exactly one status change, recorded last"
    assert events[-1].WhichOneof("payload") == "run_status_changed"
    change: runs_pb2.RunStatusChanged = changes[0]
    return change


def run_child(directory: Path, body: str) -> tuple[subprocess.CompletedProcess[str], str]:
    done = subprocess.run(
        [sys.executable, "-c", script(directory, body)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done, done.stdout.split()[0]


def test_an_uncaught_exception_marks_the_run_failed_and_still_prints_the_traceback(
    tmp_path: Path,
) -> None:
    done, run_id = run_child(
        tmp_path, "def train():\n    raise ValueError('loss is nan')\ntrain()\n"
    )
    assert done.returncode == 1
    assert "ValueError: loss is nan" in done.stderr
    assert "Traceback" in done.stderr
    change = status_of(tmp_path, run_id)
    assert (change.status, change.exit_code, change.reason) == (
        runs_pb2.RUN_STATUS_FAILED,
        1,
        "ValueError: loss is nan",
    )
    assert "in train" in change.traceback
    assert change.traceback.endswith("ValueError: loss is nan")


def test_ctrl_c_marks_the_run_killed(tmp_path: Path) -> None:
    done, run_id = run_child(tmp_path, "raise KeyboardInterrupt\n")
    assert done.returncode == -signal.SIGINT  # Python re-raises SIGINT, as without cairn
    change = status_of(tmp_path, run_id)
    assert (change.status, change.exit_code) == (runs_pb2.RUN_STATUS_KILLED, 130)


def test_a_plain_exit_without_finish_marks_the_run_finished(tmp_path: Path) -> None:
    done, run_id = run_child(tmp_path, "print('done')\n")
    assert done.returncode == 0
    assert status_of(tmp_path, run_id).status == runs_pb2.RUN_STATUS_FINISHED


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_termination_signal_marks_the_run_killed_and_still_terminates(
    tmp_path: Path, signum: int
) -> None:
    body = "run.flush(10)\nprint('ready', flush=True)\ntime.sleep(60)\n"
    process = subprocess.Popen(
        [sys.executable, "-c", script(tmp_path, body)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_signals,
    )
    try:
        assert process.stdout is not None
        run_id = process.stdout.readline().strip()
        assert process.stdout.readline().strip() == "ready"
        process.send_signal(signum)
        assert process.wait(timeout=30) == -signum
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
    change = status_of(tmp_path, run_id)
    name = signal.Signals(signum).name
    assert (change.status, change.exit_code, change.reason) == (
        runs_pb2.RUN_STATUS_KILLED,
        128 + signum,
        f"received {name}",
    )
