"""Faults, against the real ingest server and broker: every point a user logged arrives exactly
once (distinct event ids; a resent event is a copy of the same event, never a second point).

- ingest killed mid-run and restarted 30 s later, while the run keeps logging;
- the training process killed with SIGKILL, its spool uploaded by ``cairn sync`` afterwards;
- the ingest address wrong from the start: the run works offline until the address is fixed.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest

import cairn
from cairn.v1 import runs_pb2
from tests.sdk.integration.conftest import PROJECT, TEAM, IngestProcess, Stack, unique_points

pytestmark = pytest.mark.integration

OUTAGE_S = 30.0


def test_ingest_down_for_30_s_mid_run_loses_and_duplicates_nothing(
    sdk_stack: Stack, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = sdk_stack.ingest(tmp_path).start()
    try:
        run = cairn.init(settings=sdk_stack.settings(tmp_path / "cairn", server.address))
        step = 0

        def log_for(seconds: float) -> int:
            """Log as a training loop does for ``seconds``; how many calls it made."""
            nonlocal step
            first = step
            until = time.monotonic() + seconds
            while time.monotonic() < until:
                run.log({"loss": 1.0 / (step + 1), "acc": 0.5}, step=step)
                step += 1
                time.sleep(0.002)
            return step - first

        with caplog.at_level(logging.WARNING, logger="cairn"):
            log_for(2.0)
            server.kill()
            during_outage = log_for(OUTAGE_S)
            assert run.spool_dir is not None
            assert len(list(run.spool_dir.glob("*.seg"))) >= 1
            server.start()
            # Training goes on until the SDK has noticed ingest is back (its retry backoff is at
            # most ~10 s; a loaded machine may take longer to get the first acknowledgement).
            deadline = time.monotonic() + 120
            while "resumed" not in caplog.text:
                assert time.monotonic() < deadline, "delivery never resumed after ingest came back"
                log_for(0.5)
            log_for(1.0)
            run.finish()
        assert "cannot deliver to ingest" in caplog.text
        assert "delivery to" in caplog.text
    finally:
        server.stop()

    # The loop kept going while ingest was down: run.log never waited for the server (at 2 ms a
    # step an unblocked loop makes thousands of calls in 30 s; one waiting on the network, none).
    # How long a call takes is measured by `make bench-sdk`, not asserted here.
    assert during_outage > 1000, f"only {during_outage} run.log calls in {OUTAGE_S} s of outage"
    assert not run.spool_dir.exists()
    events = sdk_stack.events(run.id)
    assert unique_points(events) == {"loss": list(range(step)), "acc": list(range(step))}
    assert events[-1].run_status_changed.status == runs_pb2.RUN_STATUS_FINISHED


TRAINING = """
import cairn, sys
run = cairn.init(project={project!r}, team={team!r}, ingest_url={url!r}, api_key={key!r},
                 dir={dir!r}, capture=False)
print(run.id, flush=True)
step = 0
while True:
    run.log({{"loss": 1.0 / (step + 1), "acc": 0.5}}, step=step)
    step += 1
    if step % 2000 == 0:
        run.flush(30)  # everything up to here is on disk
        print("durable", step - 1, flush=True)
"""


def test_a_training_process_killed_with_sigkill_is_completed_by_cairn_sync(
    sdk_stack: Stack, ingest: IngestProcess, tmp_path: Path
) -> None:
    directory = tmp_path / "cairn"
    code = TRAINING.format(
        project=PROJECT, team=TEAM, url=ingest.address, key=sdk_stack.api_key, dir=str(directory)
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    durable = -1
    try:
        assert child.stdout is not None
        run_id = child.stdout.readline().strip()
        while durable < 20_000:
            line = child.stdout.readline()
            assert line.startswith("durable "), line
            durable = int(line.split()[1])
        child.kill()
        assert child.wait(timeout=10) == -9
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()
    assert (directory / "spool" / run_id / "meta.json").exists(), "the killed run left its spool"

    synced = subprocess.run(
        [Path(sys.executable).with_name("cairn"), "sync", "--dir", str(directory),
         "--ingest-url", ingest.address, "--api-key", sdk_stack.api_key],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert synced.stdout.startswith(f"  {run_id}  delivered ")
    assert int(synced.stdout.split()[2]) > 0, "the spool held events the server had not acked"
    assert not (directory / "spool" / run_id).exists()

    points = unique_points(sdk_stack.events(run_id))
    last = points["loss"][-1]
    assert last >= durable, "every point that was on disk arrived"
    assert points == {"loss": list(range(last + 1)), "acc": list(range(last + 1))}, (
        "each point exactly once, and the crash lost at most a tail after the last flush"
    )


def test_a_wrong_address_from_the_start_works_offline_until_fixed(
    sdk_stack: Stack, ingest: IngestProcess, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from localstack.processes import free_port

    directory = tmp_path / "cairn"
    wrong = f"127.0.0.1:{free_port()}"
    settings = sdk_stack.settings(directory, wrong, finish_timeout_s=5)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="cairn"), cairn.init(settings=settings) as run:
        for step in range(5000):
            run.log({"loss": 1.0 / (step + 1)}, step=step)
        run.set_tags({"phase": "offline-until-fixed"})
    assert time.monotonic() - started < 15, "finish() gave up on the unreachable server promptly"
    assert f"cannot deliver to ingest at {wrong}" in caplog.text
    assert "are not delivered yet" in caplog.text
    assert "cairn sync" in caplog.text
    assert sdk_stack.events(run.id) == []

    from cairn.cli import main

    assert (
        main(
            [
                "sync",
                "--dir",
                str(directory),
                "--ingest-url",
                ingest.address,
                "--api-key",
                sdk_stack.api_key,
            ]
        )
        == 0
    )
    events = sdk_stack.events(run.id)
    assert unique_points(events) == {"loss": list(range(5000))}
    assert len({e.envelope.event_id for e in events}) == len(events)
    assert [e.WhichOneof("payload") for e in events][-2:] == ["tags_set", "run_status_changed"]
    assert not (directory / "spool" / run.id).exists()
