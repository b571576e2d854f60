"""Reading sweeps back (query/sweeps.py) from sweeps recorded through the SDK into the real
write path: definition, trials with typed params and objective values, pruning, best trial,
Pareto front, history, intermediate values, param importances, and who may see them."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from clickhouse_connect.driver.client import Client

from cairn.errors import NotFoundError, ValidationError
from query import sweeps
from query.access import Caller
from tests.pipeline import TEAM, Pipeline, pipeline  # noqa: F401
from tests.query.integration.sweep_world import (
    MULTI_VALUES,
    OBJECTIVE,
    PARETO_FRONT,
    PRUNED_AT,
    REPORTED_STEPS,
    TRIALS,
    RecordedWorld,
    best_plan,
    record_world,
)

pytestmark = pytest.mark.integration

CALLER = Caller("tester", frozenset({TEAM}))  # a member of the team that wrote the world
OTHER_TEAM = Caller("mallory", frozenset({"risk"}))
ADMIN = Caller("root", frozenset(), admin=True)


@pytest.fixture(scope="module")
def world(
    pipeline: Pipeline,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> RecordedWorld:
    directory: Path = tmp_path_factory.mktemp("sweeps")
    return record_world(pipeline, pipeline.settings(directory, project="sweep-reading"))


@pytest.fixture(scope="module")
def client(pipeline: Pipeline) -> Iterator[Client]:  # noqa: F811
    store = pipeline.client()
    yield store
    store.close()


def test_sweep_summary_has_the_definition_counts_and_best_trial(
    world: RecordedWorld, client: Client
) -> None:
    summary = sweeps.sweep(client, CALLER, world.sweep_run_id)
    definition = summary.definition
    assert summary.run.name == "lr-layers-sweep"
    assert (definition.sampler, definition.pruner) == ("TPESampler", "HyperbandPruner")
    assert (definition.objectives, definition.directions) == ((OBJECTIVE,), ("minimize",))
    assert definition.n_trials == 12
    assert [(s.name, s.kind) for s in definition.space] == [
        ("layers", "int"),
        ("lr", "float"),
        ("optimizer", "categorical"),
    ]
    lr = next(s for s in definition.space if s.name == "lr")
    assert (lr.low, lr.high, lr.log) == (1e-4, 1e-1, True)
    assert summary.counts == {"running": 0, "complete": 8, "pruned": 3, "failed": 1}
    assert summary.trials == 12
    best = best_plan()
    (found,) = summary.best
    assert (found.number, found.run_id) == (best.number, world.trial_run_ids[best.number])
    assert found.values == pytest.approx((best.value,))
    assert found.params == best.params


def test_trials_table_has_typed_params_values_states_and_pruned_steps(
    world: RecordedWorld, client: Client
) -> None:
    trials = sweeps.sweep_trials(client, CALLER, world.sweep_run_id)
    assert list(trials.columns) == [
        "number", "run_id", "name", "state", "status", "params.layers", "params.lr",
        "params.optimizer", "metrics.val_loss", "pruned_step", "started", "ended", "duration_s",
    ]  # fmt: skip
    assert list(trials["number"]) == [t.number for t in TRIALS]
    assert world.other_child_id not in set(trials["run_id"])  # a child, but not a trial
    assert str(trials["params.layers"].dtype) == "Int64"
    assert trials["params.lr"].dtype == "float64"
    for plan, row in zip(TRIALS, trials.to_dict("records"), strict=True):
        assert row["run_id"] == world.trial_run_ids[plan.number]
        assert row["name"] == f"trial-{plan.number}"
        assert row["state"] == plan.state
        assert row["status"] == ("failed" if plan.state == "failed" else "finished")
        assert row["params.lr"] == plan.params["lr"]
        assert row["params.layers"] == plan.params["layers"]
        assert row["params.optimizer"] == plan.params["optimizer"]
        assert row["metrics.val_loss"] == pytest.approx(plan.last_value)
        if plan.state == "pruned":
            assert row["pruned_step"] == PRUNED_AT
        else:
            assert pd.isna(row["pruned_step"])
        assert row["ended"] >= row["started"]
        assert row["duration_s"] >= 0


def test_best_trial_and_history_follow_the_direction_over_complete_trials(
    world: RecordedWorld, client: Client
) -> None:
    best = sweeps.best_trials(client, CALLER, world.sweep_run_id)
    assert list(best["number"]) == [best_plan().number]
    history = sweeps.optimisation_history(client, CALLER, world.sweep_run_id)
    complete = [t for t in TRIALS if t.state == "complete"]
    assert list(history["number"]) == [t.number for t in complete]
    assert list(history["value"]) == pytest.approx([t.value for t in complete])
    running_best = [min(t.value for t in complete[: i + 1]) for i in range(len(complete))]
    assert list(history["best_value"]) == pytest.approx(running_best)


def test_intermediate_values_are_the_objective_points_with_pruned_trials_stopping_early(
    world: RecordedWorld, client: Client
) -> None:
    points = sweeps.intermediate_values(client, CALLER, world.sweep_run_id)
    assert list(points.columns) == ["number", "run_id", "state", "step", "value"]
    for plan in TRIALS:
        mine = points[points["number"] == plan.number]
        expected_steps = list(plan.reported_steps)
        if plan.state == "complete":
            expected_steps.append(REPORTED_STEPS)  # the returned value follows the last report
        assert list(mine["step"]) == expected_steps
        assert set(mine["state"]) == {plan.state}
        assert mine["value"].iloc[0] == pytest.approx(plan.intermediate(0))
    pruned = points[points["state"] == "pruned"]
    assert pruned["step"].max() == PRUNED_AT


def test_param_importances_come_from_optunas_evaluators_deterministically(
    world: RecordedWorld, client: Client
) -> None:
    found = {
        evaluator: sweeps.param_importances(client, CALLER, world.sweep_run_id, evaluator=evaluator)
        for evaluator in ("fanova", "ped_anova", "mean_decrease_impurity")
    }
    for importances in found.values():
        assert set(importances) == {"lr", "layers", "optimizer"}
        assert sum(importances.values()) == pytest.approx(1.0)
        assert list(importances.values()) == sorted(importances.values(), reverse=True)
    # fANOVA's random forest is seeded: the same trials give the same answer (the default)
    assert sweeps.param_importances(client, CALLER, world.sweep_run_id) == found["fanova"]
    with pytest.raises(ValidationError, match="evaluator"):
        sweeps.param_importances(client, CALLER, world.sweep_run_id, evaluator="shap")  # type: ignore[arg-type]


def test_a_multi_objective_sweep_reports_its_pareto_front(
    world: RecordedWorld, client: Client
) -> None:
    summary = sweeps.sweep(client, CALLER, world.multi_sweep_run_id)
    assert summary.definition.directions == ("minimize", "maximize")
    assert [b.number for b in summary.best] == list(PARETO_FRONT)
    assert [b.values for b in summary.best] == [MULTI_VALUES[n] for n in PARETO_FRONT]
    trials = sweeps.sweep_trials(client, CALLER, world.multi_sweep_run_id)
    assert list(trials["metrics.accuracy"]) == [v[1] for v in MULTI_VALUES]
    history = sweeps.optimisation_history(
        client, CALLER, world.multi_sweep_run_id, objective="accuracy"
    )
    assert list(history["best_value"]) == [0.8, 0.8, 0.9, 0.9, 0.9]
    with pytest.raises(ValidationError, match="not an objective"):
        sweeps.optimisation_history(client, CALLER, world.multi_sweep_run_id, objective="f1")


def test_sweeps_lists_sweeps_of_a_project_with_counts_and_best_value(
    world: RecordedWorld, client: Client
) -> None:
    listed = sweeps.sweeps(client, CALLER, project=world.project)
    assert list(listed["run_id"]) == [world.multi_sweep_run_id, world.sweep_run_id]  # newest first
    single = listed.set_index("run_id").loc[world.sweep_run_id]
    assert (single["team"], single["project"], single["status"]) == (
        TEAM,
        world.project,
        "finished",
    )
    assert (single["trials"], single["complete"], single["pruned"], single["failed"]) == (
        12,
        8,
        3,
        1,
    )
    assert single["objectives"] == (OBJECTIVE,)
    assert single["best_value"] == pytest.approx(best_plan().value)
    multi = listed[listed["run_id"] == world.multi_sweep_run_id]
    assert math.isnan(multi["best_value"].iloc[0])  # several objectives: no single best value
    assert sweeps.sweeps(client, CALLER, project="no-such-project").empty


def test_runs_that_are_not_sweeps_are_refused_by_name(world: RecordedWorld, client: Client) -> None:
    with pytest.raises(ValidationError, match=world.plain_run_id):
        sweeps.sweep(client, CALLER, world.plain_run_id)
    with pytest.raises(NotFoundError, match="no-such-run"):
        sweeps.sweep_trials(client, CALLER, "no-such-run")


def test_another_team_sees_no_sweep_and_cannot_open_one(
    world: RecordedWorld, client: Client
) -> None:
    assert sweeps.sweeps(client, OTHER_TEAM).empty
    for read in (sweeps.sweep, sweeps.sweep_trials, sweeps.intermediate_values):
        with pytest.raises(NotFoundError, match=world.sweep_run_id):
            read(client, OTHER_TEAM, world.sweep_run_id)
    assert len(sweeps.sweep_trials(client, ADMIN, world.sweep_run_id)) == len(TRIALS)
    assert world.sweep_run_id in set(sweeps.sweeps(client, ADMIN)["run_id"])


def test_trial_points_of_loaded_trials_are_the_intermediate_values_for_their_caller_only(
    world: RecordedWorld, client: Client
) -> None:
    summary, trials = sweeps.sweep_with_trials(client, CALLER, world.sweep_run_id)
    pd.testing.assert_frame_equal(
        sweeps.trial_points(client, CALLER, trials, summary.definition),
        sweeps.intermediate_values(client, CALLER, world.sweep_run_id),
    )
    # the points are read with the caller's visibility, whatever trials are handed in
    assert sweeps.trial_points(client, OTHER_TEAM, trials, summary.definition).empty
