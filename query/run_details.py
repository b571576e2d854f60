"""Everything runs recorded, for a known list of visible run ids: what the query service's
``GetRun`` and ``SearchRuns`` return (and through them ``cairn.Api``).

:func:`run_details` gates on visibility first (:func:`query._records.require_visible`: a run that
does not exist and one the caller may not see are the same NotFoundError), then reads each part
with one statement over all the ids. :func:`search_page` pages through :func:`query.runs.search_runs`
and returns the page's rows with their parameters, tags and metrics' last values.

Parameters keep their recorded type (``value_type`` of the ``params`` table: float, int, bool,
str, null), so clients get ``0.001`` back as a number and ``"adam"`` as text.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from domain.filters import parse_filter, parse_order_by
from query import _execute, _records
from query._execute import LATEST
from query._records import CodeVersion, Environment, MetricSummary, RunSummary
from query.access import Caller, Visibility
from query.runs import page_sql

ParamValue = float | int | bool | str | None


@dataclass(frozen=True)
class ArtifactRecord:
    name: str
    kind: str
    uri: str
    sha256: str
    size_bytes: int
    role: str
    metadata: dict[str, str]
    logged_at: datetime


@dataclass(frozen=True)
class DatasetRecord:
    role: str
    name: str
    uri: str
    digest: str
    version: str
    size_bytes: int
    manifest_digest: str
    file_count: int


@dataclass(frozen=True)
class PackageRecord:
    name: str
    version: str
    source: str


@dataclass(frozen=True)
class RunRow:
    """One run of a search page."""

    summary: RunSummary
    last_sequence: int
    params: dict[str, ParamValue] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)  # key -> last value


@dataclass(frozen=True)
class RunDetails:
    """One run and everything it recorded except its metric points."""

    summary: RunSummary
    last_sequence: int
    params: dict[str, ParamValue]
    tags: dict[str, str]
    metrics: dict[str, MetricSummary]
    code: CodeVersion | None
    environment: Environment | None
    packages: tuple[PackageRecord, ...]
    datasets: tuple[DatasetRecord, ...]
    artifacts: tuple[ArtifactRecord, ...]
    command_line: tuple[str, ...]
    traceback: str


def typed_value(value_type: str, text: str) -> ParamValue:
    """A stored parameter back as the type it was logged with."""
    try:
        if value_type == "float":
            return float(text)
        if value_type == "int":
            return int(text)
    except ValueError:
        return text
    if value_type == "bool":
        return text == "true"
    if value_type == "null":
        return None
    return text


def typed_params(
    client: Client, vis: Visibility, ids: Sequence[str]
) -> dict[str, dict[str, ParamValue]]:
    sql = (
        f"SELECT run_id, key, argMax(tuple(value_type, value), {LATEST}) AS latest"
        f" FROM {vis.table('params')} WHERE run_id IN {{ids:Array(String)}} GROUP BY run_id, key"
    )
    out: dict[str, dict[str, ParamValue]] = {}
    for row in _execute.rows(client, sql, {"ids": list(ids)}):
        value_type, text = row["latest"]
        out.setdefault(row["run_id"], {})[row["key"]] = typed_value(value_type, text)
    return out


def metric_lasts(
    client: Client, vis: Visibility, ids: Sequence[str]
) -> dict[str, dict[str, float]]:
    sql = (
        "SELECT run_id, key, argMaxMerge(last_value) AS last"
        f" FROM {vis.table('metric_summaries_current')} WHERE run_id IN {{ids:Array(String)}}"
        " GROUP BY run_id, key"
    )
    out: dict[str, dict[str, float]] = {}
    for row in _execute.rows(client, sql, {"ids": list(ids)}):
        out.setdefault(row["run_id"], {})[row["key"]] = float(row["last"])
    return out


def last_sequences(client: Client, vis: Visibility, ids: Sequence[str]) -> dict[str, int]:
    sql = (
        f"SELECT aggregate_id AS run_id, max(sequence) AS last FROM {vis.table('events')}"
        " WHERE aggregate_kind = 'run' AND aggregate_id IN {ids:Array(String)}"
        " GROUP BY aggregate_id"
    )
    return {r["run_id"]: int(r["last"]) for r in _execute.rows(client, sql, {"ids": list(ids)})}


def visible_last_sequences(
    client: Client, caller: Caller, run_ids: Sequence[str], *, database: str | None = None
) -> dict[str, int]:
    """The highest envelope ``sequence`` among the events of each of ``run_ids`` (0 for a run
    with none), in three statements whatever the number of runs.

    The SDK numbers the events of the runs it writes (``cairn/_packing.py``); a writer that adds
    events to existing runs (the portal: ``ui.events.assign_run_sequences``) continues after
    this. It is the same read (:func:`last_sequences`) the query service reports as
    ``RunInfo.last_sequence``, under the caller's visibility: a run the caller may not see is
    NOT_FOUND, like every other read of it.
    """
    if not run_ids:
        return {}
    vis = Visibility.load(client, caller, database)
    _records.require_visible(client, vis, run_ids)
    found = last_sequences(client, vis, run_ids)
    return {run_id: found.get(run_id, 0) for run_id in run_ids}


def _extra_fields(client: Client, vis: Visibility, run_id: str) -> dict[str, str]:
    sql = (
        f"SELECT field, argMax(value, {LATEST}) AS value FROM {vis.table('run_fields')}"
        " WHERE run_id = {run_id:String} AND field IN ('command_line', 'traceback')"
        " GROUP BY field"
    )
    return {r["field"]: r["value"] for r in _execute.rows(client, sql, {"run_id": run_id})}


def _packages(client: Client, vis: Visibility, run_id: str) -> tuple[PackageRecord, ...]:
    """The packages of the run's latest recorded environment."""
    sql = f"""
SELECT DISTINCT name, version, source FROM {vis.table("environment_packages")}
WHERE run_id = {{run_id:String}} AND event_id = (
    SELECT argMax(event_id, {LATEST}) FROM {vis.table("environments")}
    WHERE run_id = {{run_id:String}})
ORDER BY name
"""
    return tuple(PackageRecord(**r) for r in _execute.rows(client, sql, {"run_id": run_id}))


def _datasets(client: Client, vis: Visibility, run_id: str) -> tuple[DatasetRecord, ...]:
    sql = (
        "SELECT role, name, any(uri) AS uri, digest, any(version) AS version,"
        " any(size_bytes) AS size_bytes, any(manifest_digest) AS manifest_digest,"
        f" any(file_count) AS file_count FROM {vis.table('datasets')}"
        " WHERE run_id = {run_id:String} GROUP BY role, name, digest ORDER BY role, name, digest"
    )
    return tuple(DatasetRecord(**r) for r in _execute.rows(client, sql, {"run_id": run_id}))


def _artifacts(client: Client, vis: Visibility, run_id: str) -> tuple[ArtifactRecord, ...]:
    sql = (
        "SELECT name, any(kind) AS kind, any(uri) AS uri, sha256, any(size_bytes) AS size_bytes,"
        " any(role) AS role, any(metadata) AS metadata, min(occurred_at) AS logged_at"
        f" FROM {vis.table('artifacts')} WHERE run_id = {{run_id:String}}"
        " GROUP BY name, sha256 ORDER BY logged_at, name"
    )
    return tuple(
        ArtifactRecord(
            name=r["name"],
            kind=r["kind"],
            uri=r["uri"],
            sha256=r["sha256"],
            size_bytes=r["size_bytes"],
            role=r["role"],
            metadata=dict(r["metadata"]),
            logged_at=r["logged_at"],
        )
        for r in _execute.rows(client, sql, {"run_id": run_id})
    )


def run_artifacts(
    client: Client, caller: Caller, run_id: str, *, database: str | None = None
) -> tuple[ArtifactRecord, ...]:
    """The artifacts a run logged or used (the portal's Artifacts list); none for a run the
    caller may not see. The same rows :func:`run_details` returns as ``artifacts``."""
    vis = Visibility.load(client, caller, database)
    if run_id not in _records.visible_runs(client, vis, [run_id]):
        return ()
    return _artifacts(client, vis, run_id)


def _command_line(text: str) -> tuple[str, ...]:
    try:
        parsed: Any = json.loads(text) if text else []
    except ValueError:
        return ()
    return tuple(str(arg) for arg in parsed) if isinstance(parsed, list) else ()


def run_details(
    client: Client, caller: Caller, run_id: str, *, database: str | None = None
) -> RunDetails:
    """The run ``run_id`` as ``caller`` may see it; NotFoundError when it is not visible."""
    vis = Visibility.load(client, caller, database)
    ids = [run_id]
    # The parts are read beside the visibility gate (one round trip instead of ten); the gate's
    # answer comes first, so nothing it refuses is ever returned.
    parts: dict[str, Callable[[], Any]] = {
        "summary": lambda: _records.require_visible(client, vis, ids)[run_id],
        "extra": lambda: _extra_fields(client, vis, run_id),
        "last_sequence": lambda: last_sequences(client, vis, ids).get(run_id, 0),
        "params": lambda: typed_params(client, vis, ids).get(run_id, {}),
        "tags": lambda: _records.tags(client, vis, ids).get(run_id, {}),
        "metrics": lambda: _records.metric_summaries(client, vis, ids).get(run_id, {}),
        "code": lambda: _records.code_versions(client, vis, ids).get(run_id),
        "environment": lambda: _records.environments(client, vis, ids).get(run_id),
        "packages": lambda: _packages(client, vis, run_id),
        "datasets": lambda: _datasets(client, vis, run_id),
        "artifacts": lambda: _artifacts(client, vis, run_id),
    }
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(read) for name, read in parts.items()}
        summary = futures.pop("summary").result()
        found = {name: future.result() for name, future in futures.items()}
    extra = found.pop("extra")
    return RunDetails(
        summary=summary,
        command_line=_command_line(extra.get("command_line", "")),
        traceback=extra.get("traceback", ""),
        **found,
    )


# The rows of a search page, every part read for the page's ids in one statement and joined in
# page order. SUMMARIES, SUMMARY_COLUMNS and the table names are filled in by search_page.
_SEARCH_PAGE_SQL = """
WITH {page_ids:Array(String)} AS page_ids
SELECT pg.pos AS pos, SUMMARY_COLUMNS, p.params AS params, t.tags AS tags, m.metrics AS metrics,
    e.last_sequence AS last_sequence
FROM (SELECT arrayJoin(arrayEnumerate(page_ids)) AS pos, page_ids[pos] AS run_id) AS pg
INNER JOIN (SUMMARIES) AS s ON s.run_id = pg.run_id
LEFT JOIN (
    SELECT run_id, groupArray((key, latest.1, latest.2)) AS params FROM (
        SELECT run_id, key, argMax(tuple(value_type, value), LATEST) AS latest
        FROM PARAMS WHERE run_id IN page_ids GROUP BY run_id, key
    ) GROUP BY run_id
) AS p ON p.run_id = pg.run_id
LEFT JOIN (
    SELECT run_id, groupArray((key, value)) AS tags FROM (
        SELECT run_id, key, argMax(value, LATEST) AS value, argMax(removed, LATEST) AS removed
        FROM TAGS WHERE run_id IN page_ids GROUP BY run_id, key HAVING NOT removed
    ) GROUP BY run_id
) AS t ON t.run_id = pg.run_id
LEFT JOIN (
    SELECT run_id, groupArray((key, last)) AS metrics FROM (
        SELECT run_id, key, argMaxMerge(last_value) AS last
        FROM METRICS WHERE run_id IN page_ids GROUP BY run_id, key
    ) GROUP BY run_id
) AS m ON m.run_id = pg.run_id
LEFT JOIN (
    SELECT aggregate_id AS run_id, max(sequence) AS last_sequence FROM EVENTS
    WHERE aggregate_kind = 'run' AND aggregate_id IN page_ids GROUP BY aggregate_id
) AS e ON e.run_id = pg.run_id
ORDER BY pos
"""


def search_page(
    client: Client,
    caller: Caller,
    *,
    filter: str | None,
    order_by: str | None,
    limit: int,
    offset: int,
    database: str | None = None,
) -> tuple[list[RunRow], bool]:
    """One page of :func:`query.runs.search_runs` with each run's parameters, tags and metrics'
    last values, and whether more runs follow it.

    Two statements, whatever the page holds: the page's ids (with the caller's shares read
    inside it, :meth:`Visibility.deferred`), then everything about those runs in one statement.
    Folding the first into the second was measured slower: ClickHouse evaluates a scalar
    ``WITH`` subquery once per reference (7x the page's cost), and a materialized CTE still
    doubled it (docs/benchmarks.md)."""
    parse_filter(filter)  # malformed specs fail before any I/O
    parse_order_by(order_by)
    vis = Visibility.deferred(caller, str(database or client.database or "default"))
    page, parameters = page_sql(vis, filter, order_by, limit + 1, offset)
    ids = [str(row["c0"]) for row in _execute.rows(client, page, parameters)]
    if not ids:
        return [], False
    sql = (
        _SEARCH_PAGE_SQL.replace(
            "SUMMARY_COLUMNS", ", ".join(f"s.{c} AS {c}" for c in _records.SUMMARY_COLUMNS)
        )
        .replace("SUMMARIES", _records.summaries_sql(vis, "page_ids"))
        .replace("LATEST", LATEST)
        .replace("PARAMS", vis.table("params"))
        .replace("TAGS", vis.table("tags"))
        .replace("METRICS", vis.table("metric_summaries_current"))
        .replace("EVENTS", vis.table("events"))
    )
    found = _execute.rows(client, sql, {**vis.parameters, "page_ids": ids[:limit]})
    rows = [
        RunRow(
            summary=_records.summary(row),
            last_sequence=int(row["last_sequence"] or 0),
            params={key: typed_value(kind, text) for key, kind, text in row["params"]},
            tags=dict(row["tags"]),
            metrics={key: float(last) for key, last in row["metrics"]},
        )
        for row in found
    ]
    return rows, len(ids) > limit
