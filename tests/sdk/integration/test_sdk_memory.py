"""A training process's memory stays bounded however fast it logs, against the real ingest
server and broker: a tight loop logs 2 M points (5 keys a step) in a fresh interpreter, which
reports its peak RSS, and every point arrives exactly once — delivered as it goes when ingest is
up, or by ``cairn sync`` once ingest is up when it was down (docs/sdk.md, "Memory").

Without the bound, the backlog of Python objects grew to ~190 MB for the same loop.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.sdk.integration.conftest import PROJECT, TEAM, IngestProcess, Stack, unique_points

pytestmark = pytest.mark.integration

STEPS = 400_000
KEYS = ("loss", "acc", "lr", "grad_norm", "tokens")
BOUND_MB = 100  # docs/sdk.md: a training process's RSS while logging, the stack up or down

# VmHWM, not getrusage's ru_maxrss: that one survives execve, so a child of a big pytest process
# would report its parent's RSS at fork.
TRAINING = """
import re, cairn
from pathlib import Path
from cairn.config import Capture, Settings
settings = Settings(ingest_url={url!r}, api_key={key!r}, team={team!r}, project={project!r},
                    dir=Path({dir!r}), capture=Capture.nothing(), finish_timeout_s={wait})
with cairn.init(settings=settings) as run:
    print(run.id, flush=True)
    for step in range({steps}):
        run.log({{k: step * 0.5 for k in {keys!r}}}, step=step)
status = Path("/proc/self/status").read_text()
print(int(re.search(r"VmHWM:\\s+(\\d+) kB", status)[1]) // 1024, flush=True)
"""


def _train(directory: Path, url: str, key: str, *, wait: float) -> tuple[str, int]:
    code = TRAINING.format(
        url=url, key=key, team=TEAM, project=PROJECT, dir=str(directory), wait=wait,
        steps=STEPS, keys=KEYS,
    )  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    run_id, peak_mb = done.stdout.split()
    return run_id, int(peak_mb)


def _assert_every_point_once(sdk_stack: Stack, run_id: str) -> None:
    found = unique_points(sdk_stack.events(run_id))
    assert sorted(found) == sorted(KEYS)
    for key in KEYS:
        assert found[key] == list(range(STEPS)), f"{key}: each step exactly once"


def test_a_tight_loop_with_ingest_up_stays_under_the_bound(
    sdk_stack: Stack, ingest: IngestProcess, tmp_path: Path
) -> None:
    run_id, peak_mb = _train(tmp_path / "cairn", ingest.address, sdk_stack.api_key, wait=120)
    assert peak_mb <= BOUND_MB, f"peak RSS {peak_mb} MB for {STEPS * len(KEYS):,} points"
    _assert_every_point_once(sdk_stack, run_id)


def test_a_tight_loop_with_ingest_down_stays_under_the_bound_and_syncs_everything(
    sdk_stack: Stack, ingest: IngestProcess, tmp_path: Path
) -> None:
    from localstack.processes import free_port

    directory = tmp_path / "cairn"
    down = f"127.0.0.1:{free_port()}"
    run_id, peak_mb = _train(directory, down, sdk_stack.api_key, wait=1)
    assert peak_mb <= BOUND_MB, f"peak RSS {peak_mb} MB for {STEPS * len(KEYS):,} points"
    assert sdk_stack.events(run_id) == []

    synced = subprocess.run(
        [Path(sys.executable).with_name("cairn"), "sync", "--dir", str(directory),
         "--ingest-url", ingest.address, "--api-key", sdk_stack.api_key],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert synced.returncode == 0, synced.stdout + synced.stderr
    _assert_every_point_once(sdk_stack, run_id)
    assert not (directory / "spool" / run_id).exists()
