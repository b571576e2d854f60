"""How a sweep's trials are read: the statements and the assembly of the trial table.

Trials are selected by a subquery on their parent (``parent_run_id`` in the given sweeps)
rather than by a list of ids, so a sweep of any size costs the same four statements: the trial
list (tags, with the caller's visibility filter), and beside it the trials' run fields, sampled
params and objective metrics, whose rows are used only for trials the list returned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pandas as pd
from clickhouse_connect.driver.client import Client

from cairn_contract import sweep_record as record
from query import _execute
from query._execute import LATEST
from query._records import to_time
from query.access import Visibility
from query.sweep_analysis import SweepDefinition

STATES = record.TRIAL_STATES
_ENDED = ("failed", "killed")

# The child runs of the sweeps in {sweeps:Array(String)}: a run's parent is set once, at creation.
_CHILDREN = (
    "SELECT run_id FROM {run_fields}"
    " WHERE field = 'parent_run_id' AND value IN {{sweeps:Array(String)}}"
)

_TRIALS_SQL = """
SELECT t.run_id AS run_id, c.parent AS parent, t.number AS number, t.state AS state,
    t.pruned_step AS pruned_step
FROM (
    SELECT run_id,
        anyIf(value, key = {{trial_tag:String}}) AS number,
        anyIf(value, key = {{state_tag:String}}) AS state,
        anyIf(value, key = {{pruned_tag:String}}) AS pruned_step
    FROM (
        SELECT run_id, key, argMax(value, {latest}) AS value, argMax(removed, {latest}) AS removed
        FROM {tags} WHERE key IN {{tag_keys:Array(String)}} AND run_id IN ({children})
        GROUP BY run_id, key HAVING NOT removed
    )
    GROUP BY run_id
    HAVING countIf(key = {{role_tag:String}} AND value = {{trial_role:String}}) > 0
) AS t
INNER JOIN (
    SELECT run_id, argMax(value, {latest}) AS parent FROM {run_fields}
    WHERE field = 'parent_run_id' AND run_id IN ({children}) GROUP BY run_id
) AS c ON c.run_id = t.run_id
WHERE c.parent IN {{sweeps:Array(String)}} AND t.run_id IN ({visible})
"""

_FIELDS_SQL = """
SELECT run_id, argMaxIf(value, {latest}, field = 'name') AS name,
    argMaxIf(value, {latest}, field = 'status') AS status,
    argMaxIf(value, {latest}, field = 'started_at') AS started_at,
    argMaxIf(value, {latest}, field = 'finished_at') AS finished_at
FROM {run_fields}
WHERE field IN ('name', 'status', 'started_at', 'finished_at') AND run_id IN ({children})
GROUP BY run_id
"""

_PARAMS_SQL = """
SELECT run_id, key, argMax(value_type, {latest}) AS value_type, argMax(value, {latest}) AS value
FROM {params} WHERE key IN {{keys:Array(String)}} AND run_id IN ({children})
GROUP BY run_id, key
"""

_OBJECTIVES_SQL = """
SELECT run_id, key, argMaxMerge(last_value) AS last FROM {metric_summaries}
WHERE key IN {{keys:Array(String)}} AND run_id IN ({children})
GROUP BY run_id, key
"""


def _tags_parameters(sweep_ids: Sequence[str]) -> dict[str, Any]:
    return {
        "sweeps": list(sweep_ids),
        "role_tag": record.ROLE_TAG,
        "trial_role": record.ROLE_TRIAL,
        "trial_tag": record.TRIAL_TAG,
        "state_tag": record.STATE_TAG,
        "pruned_tag": record.PRUNED_STEP_TAG,
        "tag_keys": [record.ROLE_TAG, record.TRIAL_TAG, record.STATE_TAG, record.PRUNED_STEP_TAG],
    }


def trial_frames(
    client: Client, vis: Visibility, definitions: Mapping[str, SweepDefinition]
) -> dict[str, pd.DataFrame]:
    """The trial table of each sweep (keys of ``definitions``, already visible)."""
    ids = list(definitions)
    children = _CHILDREN.format(run_fields=vis.table("run_fields"))
    names = {
        "latest": LATEST,
        "children": children,
        "run_fields": vis.table("run_fields"),
        "tags": vis.table("tags"),
        "params": vis.table("params"),
        "metric_summaries": vis.table("metric_summaries_current"),
    }
    visible = vis.visible_runs(f"run_id IN ({children})")
    param_keys = sorted({s.name for d in definitions.values() for s in d.space})
    objective_keys = sorted({o for d in definitions.values() for o in d.objectives})
    statements = {
        "trials": (
            _TRIALS_SQL.format(**names, visible=visible),
            {**_tags_parameters(ids), **vis.parameters},
        ),
        "fields": (_FIELDS_SQL.format(**names), {"sweeps": ids}),
        "params": (_PARAMS_SQL.format(**names), {"sweeps": ids, "keys": param_keys}),
        "metrics": (_OBJECTIVES_SQL.format(**names), {"sweeps": ids, "keys": objective_keys}),
    }
    # The trial list is the visibility gate; the details are read beside it and used only for
    # the trials it returns.
    with ThreadPoolExecutor(max_workers=len(statements)) as pool:
        futures = {
            name: pool.submit(_execute.rows, client, sql, parameters)
            for name, (sql, parameters) in statements.items()
        }
        found = {name: future.result() for name, future in futures.items()}
    fields = {row["run_id"]: row for row in found["fields"]}
    params: dict[str, dict[str, tuple[str, str]]] = {}
    for row in found["params"]:
        params.setdefault(row["run_id"], {})[row["key"]] = (row["value_type"], row["value"])
    values: dict[str, dict[str, float]] = {}
    for row in found["metrics"]:
        values.setdefault(row["run_id"], {})[row["key"]] = float(row["last"])
    by_sweep: dict[str, list[dict[str, Any]]] = {sweep_id: [] for sweep_id in ids}
    for trial in found["trials"]:
        run_id = trial["run_id"]
        definition = definitions[trial["parent"]]
        by_sweep[trial["parent"]].append(
            _trial_row(
                trial,
                fields.get(run_id, {}),
                params.get(run_id, {}),
                values.get(run_id, {}),
                definition,
            )
        )
    return {sweep_id: _frame(rows, definitions[sweep_id]) for sweep_id, rows in by_sweep.items()}


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def trial_state(recorded: str, status: str) -> str:
    """The state recorded by the sweep; a trial still marked running whose run has failed or
    been killed counts as failed (as Optuna marks a stale trial)."""
    state = recorded if recorded in STATES else "running"
    return "failed" if state == "running" and status in _ENDED else state


def _trial_row(
    trial: Mapping[str, Any],
    fields: Mapping[str, Any],
    params: Mapping[str, tuple[str, str]],
    values: Mapping[str, float],
    definition: SweepDefinition,
) -> dict[str, Any]:
    status = str(fields.get("status", "")) or "running"
    started, finished = fields.get("started_at", ""), fields.get("finished_at", "")
    row: dict[str, Any] = {
        "number": _int(trial["number"]),
        "run_id": trial["run_id"],
        "name": fields.get("name", ""),
        "state": trial_state(trial["state"], status),
        "status": status,
    }
    for spec in definition.space:
        recorded = params.get(spec.name)
        row[spec.column] = spec.typed(*recorded) if recorded else None
    for objective, column in zip(definition.objectives, definition.value_columns, strict=True):
        row[column] = values.get(objective)
    row["pruned_step"] = _int(trial["pruned_step"])
    row["started"] = to_time(started)
    row["ended"] = to_time(finished) if finished else None
    row["duration_s"] = (int(finished) - int(started)) / 1e9 if finished and started else None
    return row


def _frame(rows: list[dict[str, Any]], definition: SweepDefinition) -> pd.DataFrame:
    columns = [
        "number", "run_id", "name", "state", "status", *definition.param_columns,
        *definition.value_columns, "pruned_step", "started", "ended", "duration_s",
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=columns)
    dtypes: dict[str, Any] = {"number": "Int64", "pruned_step": "Int64", "duration_s": "float64"}
    for spec in definition.space:
        dtypes[spec.column] = {"float": "float64", "int": "Int64"}.get(spec.kind, object)
    dtypes.update(dict.fromkeys(definition.value_columns, "float64"))
    for column in ("run_id", "name", "state", "status"):
        dtypes[column] = object
    frame = frame.astype(dtypes)
    for column in ("started", "ended"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame.sort_values(["number", "run_id"], kind="stable", ignore_index=True)


def counts(trials: pd.DataFrame) -> dict[str, int]:
    found = trials["state"].value_counts()
    return {state: int(found.get(state, 0)) for state in STATES}
