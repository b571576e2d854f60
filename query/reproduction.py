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

from cairn_contract.reproduction import (
    CodeRecord,
    DatasetInput,
    ReproductionReport,
    RunRecord,
    build_report,
)
from domain.diffs import DatasetRecord
from query import _execute, _records
from query._execute import LATEST
from query._records import CodeVersion, Environment
from query.access import Caller, Visibility


def _to_record(
    summary: _records.RunSummary,
    command_line: tuple[str, ...],
    code: CodeVersion | None,
    env: Environment | None,
    datasets: tuple[DatasetRecord, ...],
    params: dict[str, str],
    tags: dict[str, str],
) -> RunRecord:
    return RunRecord(
        run_id=summary.run_id,
        name=summary.name,
        team=summary.team,
        project=summary.project,
        status=summary.status,
        command_line=command_line,
        code=CodeRecord.of(code) if code else None,
        python_version=env.python_version if env else "",
        packages=dict(env.packages) if env else {},
        container_image=env.container_image if env else "",
        container_digest=env.container_digest if env else "",
        datasets=tuple(
            DatasetInput(d.name, d.uri, d.digest, d.manifest_digest, d.file_count, d.role)
            for d in datasets
        ),
        params=params,
        tags=tags,
    )


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


def _recorded(client: Client, vis: Visibility, run_id: str) -> RunRecord:
    summary = _records.require_visible(client, vis, [run_id])[run_id]
    ids = [run_id]
    return _to_record(
        summary,
        _command_line(client, vis, run_id),
        _records.code_versions(client, vis, ids).get(run_id),
        _records.environments(client, vis, ids).get(run_id),
        _records.datasets(client, vis, ids).get(run_id, ()),
        _records.params(client, vis, ids).get(run_id, {}),
        _records.tags(client, vis, ids).get(run_id, {}),
    )


def recorded_run(
    client: Client, caller: Caller, run_id: str, *, database: str | None = None
) -> RunRecord:
    """Everything the run recorded about where it came from; NotFoundError when the run does
    not exist or the caller may not see it."""
    return _recorded(client, Visibility.load(client, caller, database), run_id)


def _points(client: Client, vis: Visibility, run_id: str) -> dict[str, list[tuple[int, float]]]:
    sql = (
        f"SELECT key, step, argMax(value, sequence) AS value FROM {vis.table('metric_points')}"
        " WHERE run_id = {id:String} GROUP BY key, step ORDER BY key, step"
    )
    out: dict[str, list[tuple[int, float]]] = {}
    for row in _execute.rows(client, sql, {"id": run_id}):
        out.setdefault(row["key"], []).append((int(row["step"]), float(row["value"])))
    return out


def metric_points(
    client: Client, caller: Caller, run_id: str, *, database: str | None = None
) -> dict[str, list[tuple[int, float]]]:
    """Every (step, value) of every metric of a visible run, in step order (a step logged again
    counts with its latest value)."""
    vis = Visibility.load(client, caller, database)
    _records.require_visible(client, vis, [run_id])
    return _points(client, vis, run_id)


def reproduction_report(
    client: Client,
    caller: Caller,
    original_id: str,
    reproduction_id: str,
    *,
    database: str | None = None,
) -> ReproductionReport:
    """The report comparing a reproduction with its original, from what both recorded (the same
    report ``cairn reproduce`` printed)."""
    vis = Visibility.load(client, caller, database)
    original = _recorded(client, vis, original_id)
    reproduction = _recorded(client, vis, reproduction_id)
    return build_report(
        original,
        reproduction,
        _points(client, vis, original_id),
        _points(client, vis, reproduction_id),
    )


@dataclass(frozen=True)
class DataSince:
    """An input dataset's URI and the digest a later visible run recorded for it."""

    name: str
    uri: str
    recorded_digest: str
    later_digest: str
    later_run_id: str


def data_changed_since(
    client: Client, caller: Caller, run_id: str, *, database: str | None = None
) -> tuple[DataSince, ...]:
    """Input datasets whose URI a later visible run recorded with another digest: the store's
    own evidence that the data at that URI changed (the portal never reads the URI itself)."""
    vis = Visibility.load(client, caller, database)
    record = _recorded(client, vis, run_id)
    uris = [d.uri for d in record.inputs if d.uri]
    if not uris:
        return ()
    visible = vis.predicate("team", "project", kind="'run'", object_id="run_id")
    sql = (
        "SELECT uri, argMax(digest, occurred_at) AS digest, argMax(run_id, occurred_at) AS run"
        f" FROM {vis.table('datasets')} WHERE uri IN {{uris:Array(String)}}"
        f" AND run_id != {{id:String}} AND {visible} GROUP BY uri"
    )
    params = {"uris": uris, "id": run_id, **vis.parameters}
    latest = {r["uri"]: (r["digest"], r["run"]) for r in _execute.rows(client, sql, params)}
    return tuple(
        DataSince(d.name, d.uri, d.digest, latest[d.uri][0], latest[d.uri][1])
        for d in record.inputs
        if d.uri in latest and latest[d.uri][0] != d.digest
    )


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
