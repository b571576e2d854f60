"""What runs recorded, fetched for a known list of run ids: the building blocks of comparisons,
diffs and provenance.

:func:`visible_runs` is the gate: it returns summaries only for runs the caller may see. The
other functions take run ids that already passed that gate (callers never pass ids straight
from users), so they do not repeat the visibility subquery. Each is one query over all the ids
at once, reading the projection tables with the same "latest wins" rule as the views.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from cairn_contract.errors import NotFoundError
from domain.diffs import DatasetRecord
from query import _execute
from query._execute import LATEST as LATEST  # defined there; importable here too
from query.access import Visibility

_TEXT_FIELDS = (
    "team",
    "project",
    "name",
    "owner",
    "description",
    "status",
    "status_reason",
    "exit_code",
    "parent_run_id",
    "sweep_id",
    "host",
    "archived",
    "git_commit",
    "git_branch",
    "git_remote",
    "git_dirty",
    "created_at",
    "started_at",
    "finished_at",
)


def to_time(nanos: int | str | None) -> datetime | None:
    """Nanoseconds since the epoch (as the projections store them) to an aware UTC datetime."""
    if nanos in (None, "", 0, "0"):
        return None
    value = int(nanos)
    return datetime.fromtimestamp(value // 1_000_000_000, UTC).replace(
        microsecond=(value % 1_000_000_000) // 1_000
    )


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    team: str
    project: str
    name: str
    owner: str  # after ownership transfers
    created_by: str
    status: str
    status_reason: str
    description: str
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    duration_s: float | None
    exit_code: int
    archived: bool
    parent_run_id: str
    sweep_id: str
    host: str
    git_commit: str
    git_branch: str


SUMMARY_COLUMNS = ("run_id", *_TEXT_FIELDS, "transferred_to")  # what summaries_sql returns


def summaries_sql(vis: Visibility, ids: str) -> str:
    """SQL of the summary rows (for :func:`summary`) of the visible runs whose id is ``IN``
    ``ids``: a bound array (``{ids:Array(String)}``) or a subquery, shared by every caller so
    the summary of a run is computed one way."""
    pivot = ", ".join(f"argMaxIf(value, {LATEST}, field = '{f}') AS {f}" for f in _TEXT_FIELDS)
    visible = vis.predicate("r.team", "r.project", kind="'run'", object_id="r.run_id")
    return f"""
SELECT r.*, o.owner AS transferred_to
FROM (
    SELECT run_id, {pivot} FROM {vis.table("run_fields")}
    WHERE run_id IN {ids} GROUP BY run_id HAVING countIf(field = 'created_at') > 0
) AS r
LEFT JOIN (
    SELECT target_id AS run_id, argMax(to_user, (occurred_at, event_id)) AS owner
    FROM {vis.table("ownership")} WHERE target_kind = 'run' AND target_id IN {ids}
    GROUP BY target_id
) AS o ON o.run_id = r.run_id
WHERE {visible}
"""


def visible_runs(client: Client, vis: Visibility, run_ids: Sequence[str]) -> dict[str, RunSummary]:
    """Summaries of the runs among ``run_ids`` that exist and the caller may see."""
    if not run_ids:
        return {}
    sql = summaries_sql(vis, "{ids:Array(String)}")
    found = _execute.rows(client, sql, {"ids": list(run_ids), **vis.parameters})
    return {row["run_id"]: summary(row) for row in found}


def summary(row: dict[str, Any]) -> RunSummary:
    """A row of :func:`summaries_sql` as a :class:`RunSummary`."""
    started = to_time(row["started_at"])
    finished = to_time(row["finished_at"]) if row["finished_at"] else None
    duration = (
        (int(row["finished_at"]) - int(row["started_at"])) / 1e9
        if row["finished_at"] and row["started_at"]
        else None
    )
    return RunSummary(
        run_id=row["run_id"],
        team=row["team"],
        project=row["project"],
        name=row["name"],
        owner=row["transferred_to"] or row["owner"],
        created_by=row["owner"],
        status=row["status"],
        status_reason=row["status_reason"],
        description=row["description"],
        created_at=to_time(row["created_at"]),
        started_at=started,
        finished_at=finished,
        duration_s=duration,
        exit_code=_int(row["exit_code"]),
        archived=row["archived"] == "1",
        parent_run_id=row["parent_run_id"],
        sweep_id=row["sweep_id"],
        host=row["host"],
        git_commit=row["git_commit"],
        git_branch=row["git_branch"],
    )


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def require_visible(
    client: Client, vis: Visibility, run_ids: Sequence[str]
) -> dict[str, RunSummary]:
    """Like :func:`visible_runs`, but every id must be found: a run that does not exist and one
    the caller may not see are the same NotFoundError, so existence does not leak."""
    found = visible_runs(client, vis, run_ids)
    missing = [run_id for run_id in run_ids if run_id not in found]
    if missing:
        shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise NotFoundError(f"no such run (or not visible to you): {shown}", field="run_ids")
    return found


def visible_or_none(
    client: Client, vis: Visibility, run_ids: Sequence[str]
) -> dict[str, RunSummary]:
    """Like :func:`visible_runs`, but at least one id must be found (else the NotFoundError of
    :func:`require_visible`): for reads that show what is visible of a list of runs."""
    found = visible_runs(client, vis, run_ids)
    if not found:
        raise NotFoundError("none of these runs exists or is visible to you", field="run_ids")
    return found


def params(client: Client, vis: Visibility, ids: Sequence[str]) -> dict[str, dict[str, str]]:
    sql = (
        f"SELECT run_id, key, argMax(value, {LATEST}) AS value FROM {vis.table('params')}"
        " WHERE run_id IN {ids:Array(String)} GROUP BY run_id, key"
    )
    return _nested(_execute.rows(client, sql, {"ids": list(ids)}), "value")


def tags(client: Client, vis: Visibility, ids: Sequence[str]) -> dict[str, dict[str, str]]:
    sql = (
        f"SELECT run_id, key, argMax(value, {LATEST}) AS value,"
        f" argMax(removed, {LATEST}) AS removed FROM {vis.table('tags')}"
        " WHERE run_id IN {ids:Array(String)} GROUP BY run_id, key HAVING NOT removed"
    )
    return _nested(_execute.rows(client, sql, {"ids": list(ids)}), "value")


@dataclass(frozen=True)
class MetricSummary:
    last: float
    min: float
    max: float
    last_step: int
    count: int


def metric_summaries(
    client: Client, vis: Visibility, ids: Sequence[str]
) -> dict[str, dict[str, MetricSummary]]:
    sql = (
        "SELECT run_id, key, argMaxMerge(last_value) AS last, min(min_value) AS min,"
        " max(max_value) AS max, max(last_step) AS last_step, groupBitmapMerge(steps) AS count"
        f" FROM {vis.table('metric_summaries_current')} WHERE run_id IN {{ids:Array(String)}}"
        " GROUP BY run_id, key"
    )
    out: dict[str, dict[str, MetricSummary]] = {}
    for row in _execute.rows(client, sql, {"ids": list(ids)}):
        out.setdefault(row["run_id"], {})[row["key"]] = MetricSummary(
            float(row["last"]),
            float(row["min"]),
            float(row["max"]),
            int(row["last_step"]),
            int(row["count"]),
        )
    return out


@dataclass(frozen=True)
class CodeVersion:
    git_remote: str
    branch: str
    commit: str
    dirty: bool
    diff: str  # the uncommitted patch against ``commit``
    diff_truncated: bool
    diff_sha256: str
    entry_point: str


def code_versions(client: Client, vis: Visibility, ids: Sequence[str]) -> dict[str, CodeVersion]:
    """The latest recorded code version of each run."""
    columns = "git_remote, branch, commit, dirty, diff, diff_truncated, diff_sha256, entry_point"
    sql = (
        f"SELECT run_id, argMax(tuple({columns}), {LATEST}) AS code"
        f" FROM {vis.table('code_versions')} WHERE run_id IN {{ids:Array(String)}} GROUP BY run_id"
    )
    return {
        row["run_id"]: CodeVersion(*row["code"])
        for row in _execute.rows(client, sql, {"ids": list(ids)})
    }


@dataclass(frozen=True)
class Environment:
    python_version: str
    python_implementation: str
    os: str
    os_version: str
    cpu_model: str
    cpu_count: int
    memory_bytes: int
    gpus: tuple[str, ...]
    cuda_version: str
    cudnn_version: str
    container_image: str
    container_digest: str
    hostname: str
    packages: dict[str, str]  # name -> version
    packages_digest: str  # sha256 of the sorted "name==version" lines: equal sets, equal digest


_ENV_COLUMNS = (
    "python_version",
    "python_implementation",
    "os",
    "os_version",
    "cpu_model",
    "cpu_count",
    "memory_bytes",
    "gpus",
    "cuda_version",
    "cudnn_version",
    "container_image",
    "container_digest",
    "hostname",
)


def environments(client: Client, vis: Visibility, ids: Sequence[str]) -> dict[str, Environment]:
    """The latest recorded environment of each run, with its installed packages."""
    sql = f"""
SELECT e.run_id AS run_id, e.env AS env, p.names AS names, p.versions AS versions
FROM (
    SELECT run_id, argMax(tuple({", ".join(_ENV_COLUMNS)}), {LATEST}) AS env,
        argMax(event_id, {LATEST}) AS latest_event
    FROM {vis.table("environments")} WHERE run_id IN {{ids:Array(String)}} GROUP BY run_id
) AS e
LEFT JOIN (
    SELECT run_id, event_id, groupArray(name) AS names, groupArray(version) AS versions
    FROM (SELECT DISTINCT run_id, event_id, name, version FROM {vis.table("environment_packages")}
          WHERE run_id IN {{ids:Array(String)}})
    GROUP BY run_id, event_id
) AS p ON p.run_id = e.run_id AND p.event_id = e.latest_event
"""
    out: dict[str, Environment] = {}
    for row in _execute.rows(client, sql, {"ids": list(ids)}):
        packages = dict(sorted(zip(row["names"] or [], row["versions"] or [], strict=True)))
        values = dict(zip(_ENV_COLUMNS, row["env"], strict=True))
        values["gpus"] = tuple(values["gpus"])
        out[row["run_id"]] = Environment(
            **values, packages=packages, packages_digest=packages_digest(packages)
        )
    return out


def packages_digest(packages: dict[str, str]) -> str:
    lines = "".join(f"{name}=={version}\n" for name, version in sorted(packages.items()))
    return hashlib.sha256(lines.encode()).hexdigest()


def datasets(
    client: Client, vis: Visibility, ids: Sequence[str]
) -> dict[str, tuple[DatasetRecord, ...]]:
    """Every distinct dataset each run recorded (by role, name and content digest)."""
    sql = (
        "SELECT run_id, role, name, digest, any(manifest_digest) AS manifest_digest,"
        " any(uri) AS uri, any(size_bytes) AS size_bytes, any(file_count) AS file_count"
        f" FROM {vis.table('datasets')} WHERE run_id IN {{ids:Array(String)}}"
        " GROUP BY run_id, role, name, digest ORDER BY run_id, role, name, digest"
    )
    out: dict[str, list[DatasetRecord]] = {}
    for row in _execute.rows(client, sql, {"ids": list(ids)}):
        out.setdefault(row.pop("run_id"), []).append(DatasetRecord(**row))
    return {run_id: tuple(records) for run_id, records in out.items()}


def _nested(found: list[dict[str, Any]], value: str) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for row in found:
        out.setdefault(row["run_id"], {})[row["key"]] = row[value]
    return out
