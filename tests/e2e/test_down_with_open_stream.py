"""`cairn down` while a training process streams points, then `cairn up`: nothing lost, nothing twice.

Ingest ends the open Publish stream when it stops; the SDK keeps logging into its spool,
reconnects once the stack is back and resends from its watermark. The processors stop with
events read but not yet written (a long flush interval holds them): they are read again after
the restart from the committed offsets. Counted exactly in the store afterwards. How long
`cairn down` takes is measured by `make bench-footprint` (docs/benchmarks.md), not asserted here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from localstack.ephemeral import RunningStack, cairn, stack_env
from query.client import connect

pytestmark = pytest.mark.e2e

STREAMER = """
import sys, time
from pathlib import Path
import numpy as np
import cairn

run = cairn.init(project="shutdown", name="open-stream", capture=False)
print(run.id, flush=True)
stop, step = Path(sys.argv[1]), 0
while not stop.exists():
    run.log_series("loss", np.arange(step, step + 100), np.random.random(100))
    step += 100
    time.sleep(0.01)
run.finish()
print(step, flush=True)
"""


def _stored(stack: RunningStack, run_id: str) -> tuple[int, int]:
    """(points stored, distinct steps) of ``run_id``; (0, 0) while the store is unreachable."""
    try:
        rows = (
            connect(stack.admin_clickhouse_url)
            .query(
                "SELECT count(), uniqExact(step) FROM metric_points WHERE run_id = {r:String}",
                parameters={"r": run_id},
            )
            .result_rows
        )
    except Exception:
        return 0, 0
    return int(rows[0][0]), int(rows[0][1])


def _wait_stored(stack: RunningStack, run_id: str, at_least: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _stored(stack, run_id)[0] < at_least and time.monotonic() < deadline:
        time.sleep(0.2)


def test_cairn_down_with_an_sdk_stream_open_loses_and_duplicates_no_point(tmp_path: Path) -> None:
    env = stack_env(tmp_path / "home", os.environ)
    env["CAIRN_FLUSH_INTERVAL_S"] = "3"  # the processors hold unwritten events when stopped
    stack = RunningStack(env, tmp_path / "home")
    stop = tmp_path / "stop-logging"
    streamer: subprocess.Popen[str] | None = None
    try:
        up = cairn(env, "up", timeout=600)
        assert up.returncode == 0, up.stdout + up.stderr
        streamer = subprocess.Popen(
            [sys.executable, "-c", STREAMER, str(stop)], env=env, stdout=subprocess.PIPE, text=True
        )
        assert streamer.stdout is not None
        run_id = streamer.stdout.readline().strip()
        _wait_stored(stack, run_id, 1, timeout=60)  # the stream is open and delivering
        assert _stored(stack, run_id)[0] > 0

        down = cairn(env, "down", timeout=180)
        assert down.returncode == 0, down.stdout + down.stderr
        time.sleep(1)  # logging goes on into the spool while the stack is down
        again = cairn(env, "up", timeout=600)
        assert again.returncode == 0, again.stdout + again.stderr
        before = _stored(stack, run_id)[0]
        _wait_stored(stack, run_id, before + 1, timeout=60)  # the SDK reconnected by itself

        stop.touch()
        logged = int(streamer.communicate(timeout=120)[0].split()[-1])
        _wait_stored(stack, run_id, logged, timeout=120)
        time.sleep(4)  # past a flush interval: a duplicate would show by now
        assert _stored(stack, run_id) == (logged, logged)
    finally:
        stop.touch()
        if streamer is not None and streamer.poll() is None:
            streamer.kill()
            streamer.wait()
        cairn(env, "down", timeout=180)
