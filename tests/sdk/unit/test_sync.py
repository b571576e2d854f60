"""Delivering spools left behind: ``cairn sync`` and the sweep a new online run starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import cairn
from cairn.config import Mode
from cairn.sync import deliver, spooled_runs, sync
from tests.sdk.helpers import FakeIngest, offline_settings, points, wait_for
from tests.sdk.unit.conftest import Server


def offline_run(tmp_path: Path, steps: int = 50) -> str:
    with cairn.init(settings=offline_settings(tmp_path)) as run:
        for step in range(steps):
            run.log({"loss": float(step)}, step=step)
    return run.id


def test_an_offline_run_is_delivered_once_and_its_spool_removed(tmp_path: Path) -> None:
    run_id = offline_run(tmp_path)
    settings = offline_settings(tmp_path)
    ingest = FakeIngest()
    result = deliver(settings.spool_root / run_id, settings, transport=ingest)
    assert (result.run_id, result.remaining, result.note) == (run_id, 0, "")
    assert result.delivered == len(ingest.events()) == 3
    assert points(ingest.events())["loss"] == [(s, float(s)) for s in range(50)]
    assert not (settings.spool_root / run_id).exists()
    assert ingest.closed


def test_a_sync_that_cannot_reach_the_server_gives_up_and_keeps_the_spool(tmp_path: Path) -> None:
    run_id = offline_run(tmp_path)
    settings = offline_settings(tmp_path)
    result = deliver(
        settings.spool_root / run_id, settings, transport=FakeIngest(down=True), stall_timeout_s=0.3
    )
    assert (result.delivered, result.remaining) == (0, 3)
    assert result.note == "UNAVAILABLE: connection refused"
    assert (settings.spool_root / run_id / "meta.json").exists()


def test_a_live_runs_spool_is_left_alone(tmp_path: Path) -> None:
    finished = offline_run(tmp_path)
    with cairn.init(settings=offline_settings(tmp_path)) as live:
        listed = {s.run_id: s.in_use for s in spooled_runs(offline_settings(tmp_path))}
        assert listed == {finished: False, live.id: True}
        results = sync(offline_settings(tmp_path), run_ids={live.id})
        assert [(r.run_id, r.remaining, r.note) for r in results] == [
            (live.id, -1, "in use by a running process")
        ]


def test_the_next_online_run_delivers_spools_of_crashed_runs_but_not_offline_ones(
    tmp_path: Path, server: Server
) -> None:
    offline_id = offline_run(tmp_path)
    crashed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import cairn, os\n"
            f"run = cairn.init(project='churn', team='vision', mode='online', capture=False,"
            f" ingest_url='127.0.0.1:1', api_key='k', dir={str(tmp_path / 'cairn')!r})\n"
            "for s in range(40): run.log({'loss': float(s)}, step=s)\n"
            "run.flush(10)\nprint(run.id, flush=True)\nos._exit(9)\n",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert crashed.returncode == 9, crashed.stderr
    crashed_id = crashed.stdout.strip()

    settings = offline_settings(
        tmp_path, mode=Mode.ONLINE, ingest_url=server.address, api_key="cairn_k_s"
    )
    with cairn.init(settings=settings) as run:
        wait_for(lambda: not (settings.spool_root / crashed_id).exists(), what="the sweep")
    by_run: dict[str, list[int]] = {}
    for batch in server.fake.batches:
        for event in batch.events:
            by_run.setdefault(event.envelope.aggregate_id, []).append(event.envelope.sequence)
    assert set(by_run) == {crashed_id, run.id}
    assert points(
        [e for b in server.fake.batches for e in b.events if e.envelope.aggregate_id == crashed_id]
    )["loss"] == [(s, float(s)) for s in range(40)]
    assert (settings.spool_root / offline_id / "meta.json").exists()


def test_the_sync_command_lists_and_reports(
    tmp_path: Path, server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    from cairn.cli import main

    run_id = offline_run(tmp_path)
    directory = str(tmp_path / "cairn")
    assert main(["sync", "--list", "--dir", directory]) == 0
    assert f"  {run_id}  offline" in capsys.readouterr().out
    code = main(
        ["sync", "--dir", directory, "--ingest-url", server.address, "--api-key", "cairn_k_s"]
    )
    assert code == 0
    assert capsys.readouterr().out == f"  {run_id}  delivered 3 events\n"
    assert main(["sync", "--dir", directory, "--ingest-url", server.address, "--api-key", "k"]) == 0
    assert "nothing to sync" in capsys.readouterr().out
