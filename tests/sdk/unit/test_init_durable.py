"""A process killed right after ``cairn.init`` returns still leaves its run behind: the run's
creation is in the spool on disk, where `cairn sync` (or the next run on this machine) finds it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cairn._spool import Spool
from cairn.v1 import events_pb2

KILLED_AT_ONCE = """
import os, signal, cairn
run = cairn.init(project="durable", team="ml", mode="offline", dir={dir!r}, capture=False,
                 name="killed-at-once", config={{"lr": 0.1}})
print(run.id, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_run_killed_right_after_init_is_on_disk(tmp_path: Path) -> None:
    directory = tmp_path / "cairn"
    child = subprocess.run(
        [sys.executable, "-c", KILLED_AT_ONCE.format(dir=str(directory))],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert child.returncode == -9, child.stderr
    run_id = child.stdout.strip()

    spool = Spool.open(directory / "spool" / run_id)
    try:
        records, _ = spool.read(spool.acked_position, 1 << 30, 1000)
    finally:
        spool.close(remove_if_delivered=False)
    kinds = []
    for record in records:
        event = events_pb2.Event()
        event.ParseFromString(record.data)
        kinds.append(event.WhichOneof("payload"))
    assert kinds[:2] == ["run_created", "params_set"]
