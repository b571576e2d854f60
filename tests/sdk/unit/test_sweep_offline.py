"""``cairn.sweep`` offline (no server): what each run's spool holds follows cairn.sweep_record, and
running the same sweep again resumes its study and its sweep run. The integration tests check the
same through the real pipeline; these are the fast version of the recording rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import cairn
from cairn.config import Settings
from cairn.errors import ConfigError
from cairn.sweeps import Trial
from tests.sdk.helpers import offline_settings, payloads, points, spooled_events


def events(settings: Settings, run_id: str) -> list[Any]:
    return spooled_events(settings.spool_root / run_id)


def tags(settings: Settings, run_id: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for message in payloads(events(settings, run_id), "tags_set"):
        found.update({tag.key: tag.value for tag in message.tags})
    return found


def params(settings: Settings, run_id: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for message in payloads(events(settings, run_id), "params_set"):
        for param in message.params:
            found[param.key] = getattr(param.value, param.value.WhichOneof("kind"))
    return found


def statuses(settings: Settings, run_id: str) -> list[Any]:
    return payloads(events(settings, run_id), "run_status_changed")


def test_each_trial_is_a_child_run_with_its_params_metric_and_state(tmp_path: Path) -> None:
    settings = offline_settings(tmp_path)

    def objective(trial: Trial) -> float:
        x: int = trial.params["x"]
        for step in range(3):
            trial.report(x + 1 / (step + 1), step)
        if x == 2:
            trial.prune()
        if x == 3:
            raise ValueError("diverged")
        return x * 10.0

    result = cairn.sweep(
        objective,
        space={"x": [0, 1, 2, 3]},
        sampler="grid",
        seed=0,
        objective_metric="val_loss",
        name="toy",
        settings=settings,
    )

    assert (result.complete, result.pruned, result.failed) == (2, 1, 1)
    assert result.best_params == {"x": 0}
    sweep = result.run_id
    assert payloads(events(settings, sweep), "run_created")[0].name == "toy"
    assert params(settings, sweep) == {
        "sweep.study": "objective",
        "sweep.sampler": "GridSampler",
        "sweep.pruner": "NopPruner",
        "sweep.objectives": '["val_loss"]',
        "sweep.directions": '["minimize"]',
        "sweep.n_trials": 4,
        "sweep.space": '{"x":{"choices":[0,1,2,3],"type":"categorical"}}',
    }
    assert tags(settings, sweep) == {
        "cairn.sweep.role": "sweep",
        "cairn.sweep.best_trial": str(result.best_trial.number if result.best_trial else -1),
        "cairn.sweep.best_run": result.best_run_id,
    }
    assert statuses(settings, sweep)[-1].reason == "2 complete, 1 pruned, 1 failed trials"
    trials = {trial.params["x"]: trial for trial in result.study.trials}
    for x, trial in trials.items():
        run_id = trial.user_attrs["cairn.run_id"]
        created = payloads(events(settings, run_id), "run_created")[0]
        assert (created.parent_run_id, created.sweep_id) == (sweep, sweep)
        assert created.name == f"toy-{trial.number}"
        assert params(settings, run_id) == {"x": x}
        state = tags(settings, run_id)
        assert state["cairn.sweep.role"] == "trial"
        assert state["cairn.sweep.trial"] == str(trial.number)
        curve = points(events(settings, run_id))["val_loss"]
        assert curve[:3] == [(0, x + 1.0), (1, x + 0.5), (2, x + 1 / 3)]
        if x in (0, 1):
            assert state["cairn.sweep.state"] == "complete"
            assert curve[-1] == (3, x * 10.0)
        elif x == 2:
            assert state["cairn.sweep.state"] == "pruned"
            assert state["cairn.sweep.pruned_step"] == "2"
            assert len(curve) == 3
        else:
            assert state["cairn.sweep.state"] == "failed"
            failure = statuses(settings, run_id)[-1]
            assert failure.reason == "ValueError: diverged"
            assert "raise ValueError" in failure.traceback


def test_running_the_same_sweep_again_resumes_its_study_and_sweep_run(tmp_path: Path) -> None:
    settings = offline_settings(tmp_path)
    space = {"x": {"type": "float", "low": -2.0, "high": 2.0}}

    def quadratic(trial: Trial) -> float:
        return float(trial.params["x"] ** 2)

    first = cairn.sweep(quadratic, space=space, n_trials=3, sampler="random", settings=settings)
    again = cairn.sweep(quadratic, space=space, n_trials=5, sampler="random", settings=settings)
    done = cairn.sweep(quadratic, space=space, n_trials=5, sampler="random", settings=settings)

    assert again.run_id == first.run_id == done.run_id
    assert (first.complete, again.complete, done.complete) == (3, 5, 5)
    assert sorted(t.number for t in done.study.trials) == [0, 1, 2, 3, 4]
    assert (settings.dir / "sweeps" / settings.project / "quadratic.log").exists()
    assert params(settings, first.run_id)["sweep.n_trials"] == 5
    assert len(payloads(events(settings, first.run_id), "run_created")) == 1
    with pytest.raises(ConfigError, match=r"study 'quadratic' was started with another search"):
        cairn.sweep(quadratic, space={"x": [1, 2]}, n_trials=5, settings=settings)


def test_several_objectives_record_each_metric_and_the_pareto_front(tmp_path: Path) -> None:
    settings = offline_settings(tmp_path)

    def two(trial: Trial) -> tuple[float, float]:
        x = trial.params["x"]
        return x, 4 - x

    result = cairn.sweep(
        two,
        space={"x": {"type": "int", "low": 0, "high": 4}},
        n_trials=4,
        seed=1,
        directions=["minimize", "minimize"],
        objective_metrics=["cost", "error"],
        settings=settings,
    )

    assert result.complete == 4
    assert {t.number for t in result.pareto_trials} == {t.number for t in result.study.trials}
    sweep_tags = tags(settings, result.run_id)
    front = sorted(t.number for t in result.pareto_trials)
    assert sweep_tags["cairn.sweep.pareto_trials"] == ",".join(map(str, front))
    assert json.loads(params(settings, result.run_id)["sweep.directions"]) == ["minimize"] * 2
    trial = result.study.trials[0]
    curves = points(events(settings, trial.user_attrs["cairn.run_id"]))
    assert curves == {"cost": [(0, trial.values[0])], "error": [(0, trial.values[1])]}
