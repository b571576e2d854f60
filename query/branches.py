"""Forks and rewinds: keeping the points a rewind abandons, and reading a run's branches.

:func:`snapshot_abandoned` runs when the projection writes a batch with a ``run_rewound`` event,
*before* the batch's rows are inserted: it copies the run's stored points that the rewind
abandons (steps after ``to_step``, logged before the rewind: a lower sequence) into
``metric_attempts``, where they stay as the run's earlier attempts. It must run before the insert
because a step the new branch logs again replaces the old value in ``metrics``. The batch's own
abandoned points are copied by the projection itself (``Projection._abandon``). Both are
idempotent: a redelivered batch copies the same rows again, or fewer (its re-logged points have
by then replaced old ones), and ``metric_attempts`` keeps what it already has.

:func:`run_branches` reads what the Run page shows: the fork chain up to the first run (each
ancestor only when the caller may see it), the forks of this run, and its rewinds.
:func:`earlier_attempts` returns the abandoned points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from clickhouse_connect.driver.client import Client

from cairn_contract.errors import NotFoundError
from query import _execute, _records
from query.access import Caller, Visibility
from query.sql import quote_identifier as q

MAX_FORK_DEPTH = 50  # ancestors followed up a fork chain
MAX_CHILDREN = 200

_SNAPSHOT_SQL = """
INSERT INTO {attempts} (run_id, rewind_sequence, rewind_to_step, key, step, timestamp, value,
    sequence)
SELECT run_id, {{sequence:UInt64}}, {{to_step:Int64}}, key, step, timestamp, value, sequence
FROM {metrics} FINAL
WHERE run_id = {{run_id:String}} AND step > {{to_step:Int64}} AND sequence < {{sequence:UInt64}}
    AND NOT arrayExists((t, s) -> step > t AND sequence < s,
        {{earlier_steps:Array(Int64)}}, {{earlier_sequences:Array(UInt64)}})
"""


def snapshot_abandoned(
    client: Client,
    database: str,
    run_id: str,
    to_step: int,
    sequence: int,
    earlier: Sequence[tuple[int, int]] = (),
) -> None:
    """Copy the stored points a rewind abandons into ``metric_attempts`` (see the module doc).

    ``earlier`` lists (to_step, sequence) of the run's rewinds before this one that the store
    may not hold yet; points they abandoned belong to their attempt, not this one."""
    known = _execute.rows(
        client,
        f"SELECT step, sequence FROM {q(database)}.{q('run_branches')}"
        " WHERE run_id = {run_id:String} AND kind = 'rewind' AND sequence < {sequence:UInt64}",
        {"run_id": run_id, "sequence": sequence},
    )
    rewinds = sorted({(int(r["step"]), int(r["sequence"])) for r in known} | set(earlier))
    sql = _SNAPSHOT_SQL.format(
        attempts=f"{q(database)}.{q('metric_attempts')}",
        metrics=f"{q(database)}.{q('metrics')}",
    )
    parameters = {
        "run_id": run_id,
        "to_step": to_step,
        "sequence": sequence,
        "earlier_steps": [t for t, s in rewinds if s < sequence],
        "earlier_sequences": [s for t, s in rewinds if s < sequence],
    }
    with _execute.translated():
        client.command(sql, parameters=parameters, settings={"async_insert": 0})


@dataclass(frozen=True)
class Fork:
    """``run_id`` was forked from ``parent_run_id`` at ``step`` (``visible``: the caller may
    open the parent; otherwise only the fact that there is one is shown)."""

    run_id: str
    parent_run_id: str
    step: int
    inherited_points: int
    at: datetime
    visible: bool = True
    name: str = ""


@dataclass(frozen=True)
class Rewind:
    to_step: int
    sequence: int
    at: datetime
    actor: str


@dataclass(frozen=True)
class RunBranches:
    """A run's place in its fork tree and its rewinds.

    ``ancestors``: the fork chain upwards, nearest first (``ancestors[0]`` is this run's own
    fork). ``children``: runs forked from this one that the caller may see."""

    run_id: str
    ancestors: tuple[Fork, ...]
    children: tuple[Fork, ...]
    rewinds: tuple[Rewind, ...]

    @property
    def fork(self) -> Fork | None:
        return self.ancestors[0] if self.ancestors else None


_FORKS_OF_SQL = """
SELECT run_id AS forked, any(parent_run_id) AS parent, any(step) AS fork_step,
    any(inherited_points) AS inherited, min(occurred_at) AS at
FROM {branches}
WHERE kind = 'fork' AND {column} IN {{ids:Array(String)}}
GROUP BY run_id
ORDER BY at, forked
LIMIT {limit}
"""


def _forks(client: Client, vis: Visibility, column: str, ids: list[str], limit: int) -> list[Fork]:
    sql = _FORKS_OF_SQL.format(branches=vis.table("run_branches"), column=column, limit=limit)
    return [
        Fork(
            run_id=str(r["forked"]),
            parent_run_id=str(r["parent"]),
            step=int(r["fork_step"]),
            inherited_points=int(r["inherited"]),
            at=r["at"],
        )
        for r in _execute.rows(client, sql, {"ids": ids})
    ]


def _named(client: Client, vis: Visibility, forks: list[Fork], attr: str) -> list[Fork]:
    """Each fork with the name of the run ``attr`` names, and whether the caller sees it."""
    ids = sorted({getattr(f, attr) for f in forks})
    visible = _records.visible_runs(client, vis, ids) if ids else {}
    out = []
    for f in forks:
        summary = visible.get(getattr(f, attr))
        name = summary.name if summary is not None else ""
        out.append(
            Fork(
                f.run_id,
                f.parent_run_id if (summary is not None or attr == "run_id") else "",
                f.step,
                f.inherited_points,
                f.at,
                visible=summary is not None,
                name=name,
            )
        )
    return out


def run_branches(
    client: Client, caller: Caller, run_id: str, *, database: str | None = None
) -> RunBranches:
    """The fork chain, forks and rewinds of ``run_id``; NotFoundError if the caller cannot see it."""
    vis = Visibility.load(client, caller, database)
    if run_id not in _records.visible_runs(client, vis, [run_id]):
        raise NotFoundError(f"run_id: no run {run_id!r}", field="run_id")
    chain: list[Fork] = []
    current, seen = run_id, {run_id}
    while len(chain) < MAX_FORK_DEPTH:
        found = _forks(client, vis, "run_id", [current], 1)
        if not found:
            break
        chain.append(found[0])
        current = found[0].parent_run_id
        if current in seen:  # a cycle cannot be written (a fork is a new run), but never loop
            break
        seen.add(current)
    ancestors = _named(client, vis, chain, "parent_run_id")
    # Above a run the caller cannot see, nothing more is shown.
    cut = next((i + 1 for i, f in enumerate(ancestors) if not f.visible), len(ancestors))
    children = [
        f
        for f in _named(
            client, vis, _forks(client, vis, "parent_run_id", [run_id], MAX_CHILDREN), "run_id"
        )
        if f.visible
    ]
    rewinds = _execute.rows(
        client,
        "SELECT any(step) AS to_step, any(sequence) AS seq, min(occurred_at) AS at,"
        f" any(actor) AS who FROM {vis.table('run_branches')}"
        " WHERE kind = 'rewind' AND run_id = {run_id:String} GROUP BY event_id"
        " ORDER BY seq",
        {"run_id": run_id},
    )
    return RunBranches(
        run_id=run_id,
        ancestors=tuple(ancestors[:cut]),
        children=tuple(children),
        rewinds=tuple(
            Rewind(int(r["to_step"]), int(r["seq"]), r["at"], str(r["who"])) for r in rewinds
        ),
    )


ATTEMPT_COLUMNS = ("run_id", "attempt", "rewind_to_step", "key", "step", "timestamp", "value")


def earlier_attempts(
    client: Client,
    caller: Caller,
    run_id: str,
    keys: Sequence[str] = (),
    *,
    database: str | None = None,
) -> pd.DataFrame:
    """The points rewinds of ``run_id`` abandoned, ``attempt`` 1 for the first rewind's, in step
    order per attempt and key; NotFoundError if the caller cannot see the run."""
    vis = Visibility.load(client, caller, database)
    if run_id not in _records.visible_runs(client, vis, [run_id]):
        raise NotFoundError(f"run_id: no run {run_id!r}", field="run_id")
    key_filter = "AND key IN {keys:Array(String)}" if keys else ""
    sql = f"""
SELECT run_id, dense_rank() OVER (ORDER BY rewind_sequence) AS attempt, rewind_to_step,
    CAST(key AS String) AS key, step, timestamp, value
FROM {vis.table("metric_attempts")} FINAL
WHERE run_id = {{run_id:String}} {key_filter}
ORDER BY attempt, key, step
"""
    df = _execute.frame(client, sql, {"run_id": run_id, "keys": list(keys)})
    if df.empty:
        return pd.DataFrame({c: [] for c in ATTEMPT_COLUMNS})
    return df[list(ATTEMPT_COLUMNS)]
