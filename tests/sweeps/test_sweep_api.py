"""``cairn.sweep`` in a test process against the real write path (ingest, Kafka, processors,
ClickHouse): what a user reads back from the ``runs`` view and the metric points after a sweep
of a real (tiny) model."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from sklearn.linear_model import SGDClassifier

import cairn
from cairn.sweeps import Trial
from tests.pipeline import Pipeline  # the `pipeline` fixture is a plugin (tests/conftest.py)
from tests.sweeps.digits_worker import SPACE, digits, objective

pytestmark = pytest.mark.integration

RUN_COLUMNS = "run_id, parent_run_id, sweep_id, status, tags, params, metrics_last, traceback"


def runs_of(pipeline: Pipeline, project: str, role: str) -> list[dict[str, Any]]:
    rows = pipeline.rows(
        f"SELECT {RUN_COLUMNS} FROM runs WHERE project = {{p:String}}"
        " AND tags['cairn.sweep.role'] = {r:String} ORDER BY run_id",
        p=project,
        r=role,
    )
    names = [c.strip() for c in RUN_COLUMNS.split(",")]
    return [dict(zip(names, row, strict=True)) for row in rows]


def wait_until_recorded(pipeline: Pipeline, project: str, runs: int) -> None:
    """Every run projected with its final status and, for trials, its final state tag."""
    sql = (
        "SELECT count() FROM runs WHERE project = {p:String} AND status != 'running'"
        " AND (tags['cairn.sweep.role'] = 'sweep' OR tags['cairn.sweep.state'] != 'running')"
    )
    deadline = time.monotonic() + 90
    while pipeline.rows(sql, p=project)[0][0] < runs:
        assert time.monotonic() < deadline, f"the {runs} runs of {project} did not all end"
        time.sleep(0.2)


def points_of(pipeline: Pipeline, run_id: str, key: str) -> list[tuple[int, float]]:
    rows = pipeline.rows(
        "SELECT step, value FROM metric_points WHERE run_id = {r:String} AND key = {k:String}"
        " ORDER BY step",
        r=run_id,
        k=key,
    )
    return [(int(step), float(value)) for step, value in rows]


def test_a_pruned_sweep_is_a_sweep_run_with_one_child_run_per_trial(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = "sweep-tpe"
    pipeline.configure(monkeypatch, tmp_path, project)

    result = cairn.sweep(
        objective,
        space=SPACE,
        n_trials=8,
        sampler={"name": "tpe", "n_startup_trials": 3},
        seed=7,
        pruner={"name": "median", "n_startup_trials": 2},
        objective_metric="val_error",
        tags={"team": "vision"},
    )

    wait_until_recorded(pipeline, project, 1 + len(result.study.trials))
    (sweep,) = runs_of(pipeline, project, "sweep")
    trials = runs_of(pipeline, project, "trial")
    assert sweep["run_id"] == result.run_id
    assert sweep["status"] == "finished"
    assert sweep["params"]["sweep.sampler"] == "TPESampler"
    assert sweep["params"]["sweep.pruner"] == "MedianPruner"
    assert json.loads(sweep["params"]["sweep.objectives"]) == ["val_error"]
    assert json.loads(sweep["params"]["sweep.space"])["loss"]["type"] == "categorical"
    assert sweep["tags"]["team"] == "vision"
    assert result.complete + result.pruned == 8
    assert result.pruned >= 1
    assert len(trials) == len(result.study.trials)
    numbers = sorted(int(run["tags"]["cairn.sweep.trial"]) for run in trials)
    assert numbers == list(range(len(trials)))
    by_run = {t.user_attrs["cairn.run_id"]: t for t in result.study.trials}
    for run in trials:
        optuna_trial = by_run[run["run_id"]]
        assert (run["parent_run_id"], run["sweep_id"]) == (sweep["run_id"], sweep["run_id"])
        assert run["status"] == "finished"
        assert {"alpha", "eta0", "loss"} <= set(run["params"])
        assert run["params"]["loss"] == optuna_trial.params["loss"]
        curve = points_of(pipeline, run["run_id"], "val_error")
        reported = sorted(optuna_trial.intermediate_values.items())
        assert curve[: len(reported)] == reported
        if run["tags"]["cairn.sweep.state"] == "pruned":
            assert int(run["tags"]["cairn.sweep.pruned_step"]) == reported[-1][0]
            assert curve == reported
        else:
            assert run["tags"]["cairn.sweep.state"] == "complete"
            assert run["metrics_last"]["val_error"] == optuna_trial.value
    complete = [r for r in trials if r["tags"]["cairn.sweep.state"] == "complete"]
    best = min(complete, key=lambda r: r["metrics_last"]["val_error"])
    assert sweep["tags"]["cairn.sweep.best_trial"] == str(result.best_trial.number)  # type: ignore[union-attr]
    assert best["metrics_last"]["val_error"] == result.best_value
    assert sweep["tags"]["cairn.sweep.best_run"] == result.best_run_id


def test_a_grid_sweep_tries_each_point_and_a_failing_trial_does_not_stop_it(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = "sweep-grid"
    pipeline.configure(monkeypatch, tmp_path, project)
    space = {
        "alpha": [1e-4, 1e-2],
        "eta0": [0.05],
        "loss": ["hinge", "no_such_loss"],  # scikit-learn refuses the second at fit time
    }

    result = cairn.sweep(
        objective, space=space, sampler="grid", seed=3, objective_metric="val_error"
    )

    wait_until_recorded(pipeline, project, 5)
    (sweep,) = runs_of(pipeline, project, "sweep")
    trials = runs_of(pipeline, project, "trial")
    assert int(sweep["params"]["sweep.n_trials"]) == 4
    assert (result.complete, result.failed) == (2, 2)
    tried = {(float(run["params"]["alpha"]), run["params"]["loss"]) for run in trials}
    assert len(trials) == 4
    assert tried == {(a, loss) for a in (1e-4, 1e-2) for loss in ("hinge", "no_such_loss")}
    for run in trials:
        if run["params"]["loss"] == "no_such_loss":
            assert run["status"] == "failed"
            assert run["tags"]["cairn.sweep.state"] == "failed"
            assert "InvalidParameterError" in run["traceback"]
        else:
            assert (run["status"], run["tags"]["cairn.sweep.state"]) == ("finished", "complete")
    assert sweep["status"] == "finished"


def test_a_two_objective_sweep_with_nsga2_records_both_metrics_and_the_pareto_front(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = "sweep-nsga2"
    pipeline.configure(monkeypatch, tmp_path, project)

    def error_and_regularisation(trial: Trial) -> tuple[float, float]:
        """Validation error, and minus alpha: stronger regularisation is the second goal."""
        train_x, train_y, valid_x, valid_y, classes = digits()
        model = SGDClassifier(
            loss=trial.params["loss"],
            alpha=trial.params["alpha"],
            learning_rate="constant",
            eta0=trial.params["eta0"],
            random_state=trial.number,
        )
        values = (1.0, 0.0)
        for epoch in range(3):
            model.partial_fit(train_x, train_y, classes=classes)
            values = (1.0 - float(model.score(valid_x, valid_y)), -trial.params["alpha"])
            trial.report(values, step=epoch)  # one value per objective
        return values

    result = cairn.sweep(
        error_and_regularisation,
        space=SPACE,
        n_trials=6,
        seed=11,
        directions=["minimize", "minimize"],
        objective_metrics=["val_error", "neg_alpha"],
    )

    wait_until_recorded(pipeline, project, 7)
    (sweep,) = runs_of(pipeline, project, "sweep")
    trials = runs_of(pipeline, project, "trial")
    assert sweep["params"]["sweep.sampler"] == "NSGAIISampler"
    assert json.loads(sweep["params"]["sweep.directions"]) == ["minimize", "minimize"]
    front = sorted(t.number for t in result.pareto_trials)
    assert sweep["tags"]["cairn.sweep.pareto_trials"] == ",".join(map(str, front))
    by_run = {t.user_attrs["cairn.run_id"]: t for t in result.study.trials}
    assert len(trials) == 6
    for run in trials:
        values = by_run[run["run_id"]].values
        assert run["metrics_last"]["val_error"] == values[0]
        assert run["metrics_last"]["neg_alpha"] == values[1]
        assert len(points_of(pipeline, run["run_id"], "val_error")) == 3
