"""The SDK pieces sweeps rely on, offline: ``Run.detach()`` hands a run over without ending it,
``CAIRN_RESUME`` makes a script's first bare ``cairn.init()`` continue the trial's run, and
``sweep_id=`` is recorded on the run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import cairn
from cairn.errors import FailedPreconditionError
from tests.sdk.helpers import PROJECT, TEAM, offline_settings, payloads, points, spooled_events


def test_a_detached_run_keeps_its_status_and_a_resume_continues_it(tmp_path: Path) -> None:
    settings = offline_settings(tmp_path)
    first = cairn.init(name="handed-over", sweep_id="sweep-1", settings=settings)
    first.log({"loss": 1.0}, step=0)

    first.detach()

    with pytest.raises(FailedPreconditionError):
        first.log({"loss": 0.5}, step=1)
    assert first.spool_dir is not None
    events = spooled_events(first.spool_dir)
    assert payloads(events, "run_status_changed") == []
    assert payloads(events, "run_created")[0].sweep_id == "sweep-1"
    second = cairn.init(resume=first.id, settings=settings)
    second.log({"loss": 0.5})  # the auto step continues after the detached session's
    second.finish()
    events = spooled_events(first.spool_dir)
    assert points(events)["loss"] == [(0, 1.0), (1, 0.5)]
    assert len(payloads(events, "run_status_changed")) == 1


def test_cairn_resume_makes_the_first_bare_init_continue_that_run(tmp_path: Path) -> None:
    settings = offline_settings(tmp_path)
    trial = cairn.init(name="trial", settings=settings)
    trial.detach()
    script = (
        "import json, cairn\n"
        "first = cairn.init(config={'lr': 0.1})\n"
        "first.finish()\n"
        "second = cairn.init()\n"
        "second.finish()\n"
        "print(json.dumps([first.id, second.id]))\n"
    )
    env = {
        **os.environ,
        "CAIRN_RESUME": trial.id,
        "CAIRN_MODE": "offline",
        "CAIRN_TEAM": TEAM,
        "CAIRN_PROJECT": PROJECT,
        "CAIRN_DIR": str(settings.dir),
        "CAIRN_CAPTURE_OFF": "all",
        "CAIRN_LOCAL_STACK_FILE": str(tmp_path / "none.json"),
    }

    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )

    first, second = json.loads(done.stdout.splitlines()[-1])
    assert first == trial.id
    assert second != trial.id
    events = spooled_events(settings.spool_root / trial.id)
    assert len(payloads(events, "run_resumed")) == 1
    assert [p.key for m in payloads(events, "params_set") for p in m.params] == ["lr"]
