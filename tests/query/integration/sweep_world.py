"""Sweeps recorded through the SDK exactly as :mod:`cairn.sweep_record` says ``cairn.sweep``
records them (parent run, tagged trial children, objective metrics), without using
``cairn.sweep`` itself: the query layer and the portal are tested against the recording
contract, not against one implementation of it.

:func:`record_world` writes, in one project: a single-objective sweep of twelve trials over
three params (eight complete, three pruned at step 2 after reporting intermediate values, one
failed), a two-objective sweep of five trials, a child of the first sweep that is not a trial,
and a plain run that is not a sweep.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from typing import Any

import cairn
from cairn import sweep_record as record
from cairn.config import Settings
from tests.pipeline import Pipeline

OBJECTIVE = "val_loss"
SPACE: dict[str, dict[str, Any]] = {
    "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True, "step": None},
    "layers": {"type": "int", "low": 1, "high": 4, "log": False, "step": 1},
    "optimizer": {"type": "categorical", "choices": ["adam", "sgd"]},
}
REPORTED_STEPS = 5  # intermediate values at steps 0..4; the returned value at step 5
PRUNED_AT = 2


@dataclass(frozen=True)
class TrialPlan:
    number: int
    params: dict[str, Any]
    state: str  # complete / pruned / failed

    @property
    def value(self) -> float:
        """The objective the trial converges to (what a complete trial returns)."""
        lr, layers = float(self.params["lr"]), int(self.params["layers"])
        sgd = 0.05 if self.params["optimizer"] == "sgd" else 0.0
        return 0.2 + abs(math.log10(lr) + 2.5) * 0.1 + 0.03 * layers + sgd

    def intermediate(self, step: int) -> float:
        return self.value * (1 + 1 / (step + 1))

    @property
    def reported_steps(self) -> range:
        if self.state == "failed":
            return range(1)
        return range(PRUNED_AT + 1 if self.state == "pruned" else REPORTED_STEPS)

    @property
    def last_value(self) -> float:
        """The last value of the objective metric the trial logged."""
        if self.state == "complete":
            return self.value
        return self.intermediate(self.reported_steps[-1])


def _plan(number: int, lr: float, layers: int, optimizer: str, state: str) -> TrialPlan:
    return TrialPlan(number, {"lr": lr, "layers": layers, "optimizer": optimizer}, state)


TRIALS = (
    _plan(0, 1e-3, 2, "adam", "complete"),
    _plan(1, 3e-2, 4, "sgd", "complete"),
    _plan(2, 1e-4, 3, "sgd", "pruned"),
    _plan(3, 3e-3, 1, "adam", "complete"),
    _plan(4, 5e-2, 4, "sgd", "pruned"),
    _plan(5, 2e-3, 2, "sgd", "complete"),
    _plan(6, 8e-4, 1, "adam", "complete"),
    _plan(7, 1e-2, 3, "adam", "failed"),
    _plan(8, 3e-4, 4, "sgd", "pruned"),
    _plan(9, 4e-3, 1, "adam", "complete"),
    _plan(10, 6e-3, 2, "adam", "complete"),
    _plan(11, 2e-2, 3, "sgd", "complete"),
)
# The two-objective sweep: (val_loss to minimise, accuracy to maximise) per trial. Trials 3 and 4
# are dominated (by 0 and 1), so the Pareto front is trials 0, 1 and 2.
MULTI_VALUES = ((0.30, 0.80), (0.20, 0.70), (0.40, 0.90), (0.35, 0.75), (0.20, 0.60))
PARETO_FRONT = (0, 1, 2)


def best_plan() -> TrialPlan:
    complete = [t for t in TRIALS if t.state == "complete"]
    return min(complete, key=lambda t: (t.value, t.number))


@dataclass(frozen=True)
class RecordedWorld:
    project: str
    sweep_run_id: str
    trial_run_ids: dict[int, str]  # trial number -> run id
    multi_sweep_run_id: str
    multi_trial_run_ids: dict[int, str]
    other_child_id: str  # a child run of the sweep that is not a trial
    plain_run_id: str  # not a sweep at all


def _sweep_params(
    objectives: list[str], directions: list[str], space: dict[str, Any]
) -> dict[str, Any]:
    return {
        record.STUDY_PARAM: "study-" + "-".join(objectives),
        record.SAMPLER_PARAM: "TPESampler",
        record.PRUNER_PARAM: "HyperbandPruner" if len(objectives) == 1 else "NopPruner",
        record.OBJECTIVES_PARAM: json.dumps(objectives),
        record.DIRECTIONS_PARAM: json.dumps(directions),
        record.N_TRIALS_PARAM: 12 if len(objectives) == 1 else 5,
        record.SPACE_PARAM: record.space_json(space),
    }


def _trial(settings: Settings, sweep: cairn.Run, plan: TrialPlan) -> str:
    run = cairn.init(
        name=f"trial-{plan.number}",
        parent=sweep,
        tags={record.ROLE_TAG: record.ROLE_TRIAL, record.TRIAL_TAG: plan.number,
              record.STATE_TAG: "running"},
        settings=settings,
    )  # fmt: skip
    run.log_params(plan.params)
    for step in plan.reported_steps:
        run.log({OBJECTIVE: plan.intermediate(step)}, step=step)
    if plan.state == "failed":
        run.set_tags({record.STATE_TAG: "failed"})
        run.fail_with(RuntimeError("loss diverged"))
        return run.id
    if plan.state == "pruned":
        run.set_tags({record.STATE_TAG: "pruned", record.PRUNED_STEP_TAG: PRUNED_AT})
    else:
        run.log({OBJECTIVE: plan.value}, step=REPORTED_STEPS)
        run.set_tags({record.STATE_TAG: "complete"})
    run.finish()
    return run.id


def record_world(pipeline: Pipeline, settings: Settings) -> RecordedWorld:
    """Record the world with ``settings`` (whose project names it) and wait until the store
    holds all of it."""
    project = settings.project
    sweep = cairn.init(
        name="lr-layers-sweep",
        config=_sweep_params([OBJECTIVE], ["minimize"], SPACE),
        tags={record.ROLE_TAG: record.ROLE_SWEEP},
        settings=settings,
    )
    trial_ids = {plan.number: _trial(settings, sweep, plan) for plan in TRIALS}
    other = cairn.init(name="sweep-report", parent=sweep, settings=settings)
    other.log({OBJECTIVE: 0.0})
    other.finish()
    sweep.finish()

    multi_space = {"x": {"type": "float", "low": 0.0, "high": 1.0, "log": False, "step": None}}
    multi = cairn.init(
        name="loss-vs-accuracy",
        config=_sweep_params([OBJECTIVE, "accuracy"], ["minimize", "maximize"], multi_space),
        tags={record.ROLE_TAG: record.ROLE_SWEEP},
        settings=settings,
    )
    multi_ids = {}
    for number, (loss, accuracy) in enumerate(MULTI_VALUES):
        run = cairn.init(
            name=f"multi-{number}",
            parent=multi,
            tags={record.ROLE_TAG: record.ROLE_TRIAL, record.TRIAL_TAG: number,
                  record.STATE_TAG: "complete"},
            settings=settings,
        )  # fmt: skip
        run.log_params({"x": number / 10})
        run.log({OBJECTIVE: loss, "accuracy": accuracy}, step=0)
        run.finish()
        multi_ids[number] = run.id
    multi.finish()

    plain = cairn.init(name="baseline", config={"lr": 0.01}, settings=settings)
    plain.log({OBJECTIVE: 0.5})
    plain.finish()

    runs = 1 + len(TRIALS) + 1 + 1 + len(MULTI_VALUES) + 1
    failed = sum(t.state == "failed" for t in TRIALS)
    pipeline.wait_for_runs(project=project, count=runs - failed, status="finished")
    pipeline.wait_for_runs(project=project, count=failed, status="failed")
    _wait_until_projected(pipeline, [*trial_ids.values(), *multi_ids.values()])
    return RecordedWorld(project, sweep.id, trial_ids, multi.id, multi_ids, other.id, plain.id)


def _wait_until_projected(pipeline: Pipeline, trial_ids: list[str], timeout: float = 60) -> None:
    """Runs are finished once their status lands; wait for their points and tags too."""
    points = sum(len(t.reported_steps) + (t.state == "complete") for t in TRIALS)
    points += 2 * len(MULTI_VALUES)
    sql = (
        "SELECT (SELECT count() FROM metric_points WHERE run_id IN {ids:Array(String)}),"
        " (SELECT count() FROM tags_current WHERE run_id IN {ids:Array(String)}"
        " AND key = {state:String} AND value != 'running')"
    )
    deadline = time.monotonic() + timeout
    found: tuple[Any, ...] = ()
    while time.monotonic() < deadline:
        found = pipeline.rows(sql, ids=trial_ids, state=record.STATE_TAG)[0]
        if found == (points, len(trial_ids)):
            return
        time.sleep(0.3)
    raise AssertionError(
        f"sweep points and states not projected: {found} != {(points, len(trial_ids))}"
    )
