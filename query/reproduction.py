"""What ``cairn reproduce`` needs of a run, and the reproduction links between runs.

:func:`recorded_run` gathers a run's whole capture (command line, code version with its patch
and truncation flag, Python version and packages, container, input datasets, params, tags) in a
few queries; the query service's ``GetRun`` answers it, and the portal's Reproduce panel reads it.
:func:`metric_points` returns every point of every metric (no downsampling: a reproduction is
compared at every step). :func:`reproduction_links` finds the ``reproduces`` lineage edges
into and out of a run. Every function applies the caller's visibility.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from domain.diffs import DatasetRecord
from query import _execute, _records
from query._records import LATEST, CodeVersion, Environment
from query.access import Caller, Visibility


@dataclass(frozen=True)
class RecordedRun:
    run_id: str
    team: str
    project: str
    name: str
    status: str
    command_line: tuple[str, ...]
    code: CodeVersion | None
    environment: Environment | None
    datasets: tuple[DatasetRecord, ...]  # role "input" and "output"
    params: dict[str, str]
    tags: dict[str, str]


def _command_line(client: Client, vis: Visibility, run_id: str) -> tuple[str, ...]:
    sql = (
        f"SELECT argMax(value, {LATEST}) FROM {vis.table('run_fields')}"
        " WHERE run_id = {id:String} AND field = 'command_line'"
    )
    raw = _execute.scalar(client, sql, {"id": run_id})
    try:
        value = json.loads(raw) if raw else []
    except ValueError:
        return ()
    return tuple(str(arg) for arg in value) if isinstance(value, list) else ()


def recorded_run(
    client: Client, caller: Caller, run_id: str, *, database: str | None = None
) -> RecordedRun:
    """Everything the run recorded about where it came from; NotFoundError when the run does
    not exist or the caller may not see it."""
    vis = Visibility.load(client, caller, database)
    summary = _records.require_visible(client, vis, [run_id])[run_id]
    ids = [run_id]
    return RecordedRun(
        run_id=run_id,
        team=summary.team,
        project=summary.project,
        name=summary.name,
        status=summary.status,
        command_line=_command_line(client, vis, run_id),
        code=_records.code_versions(client, vis, ids).get(run_id),
        environment=_records.environments(client, vis, ids).get(run_id),
        datasets=_records.datasets(client, vis, ids).get(run_id, ()),
        params=_records.params(client, vis, ids).get(run_id, {}),
        tags=_records.tags(client, vis, ids).get(run_id, {}),
    )


def metric_points(
    client: Client, caller: Caller, run_id: str, *, database: str | None = None
) -> dict[str, list[tuple[int, float]]]:
    """Every (step, value) of every metric of a visible run, in step order (a step logged again
    counts with its latest value)."""
    vis = Visibility.load(client, caller, database)
    _records.require_visible(client, vis, [run_id])
    sql = (
        f"SELECT key, step, argMax(value, sequence) AS value FROM {vis.table('metrics')}"
        " WHERE run_id = {id:String} GROUP BY key, step ORDER BY key, step"
    )
    out: dict[str, list[tuple[int, float]]] = {}
    for row in _execute.rows(client, sql, {"id": run_id}):
        out.setdefault(row["key"], []).append((int(row["step"]), float(row["value"])))
    return out


@dataclass(frozen=True)
class ReproductionLinks:
    reproduces: tuple[str, ...]  # runs this run reproduces (visible ones)
    reproduced_by: tuple[str, ...]  # visible runs that reproduce this one, oldest first


def reproduction_links(
    client: Client, caller: Caller, run_id: str, *, database: str | None = None
) -> ReproductionLinks:
    vis = Visibility.load(client, caller, database)
    _records.require_visible(client, vis, [run_id])
    sql = (
        "SELECT source_id, target_id, min(occurred_at) AS at"
        f" FROM {vis.table('lineage')} WHERE relation = 'reproduces'"
        " AND source_kind = 'run' AND target_kind = 'run'"
        " AND (source_id = {id:String} OR target_id = {id:String})"
        " GROUP BY source_id, target_id ORDER BY at, source_id"
    )
    found = _execute.rows(client, sql, {"id": run_id})
    others = {r["source_id"] for r in found} | {r["target_id"] for r in found}
    visible = _records.visible_runs(client, vis, sorted(others - {run_id}))
    return ReproductionLinks(
        reproduces=tuple(
            r["target_id"] for r in found if r["source_id"] == run_id and r["target_id"] in visible
        ),
        reproduced_by=tuple(
            r["source_id"] for r in found if r["target_id"] == run_id and r["source_id"] in visible
        ),
    )
