"""Projects as the portal's home page lists them: declared or only used by runs, with activity.

Follows the query layer's rules: values bound as parameters, identifiers from
:class:`query.access.Visibility`, the caller's visibility in every WHERE clause, frozen
dataclasses out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from query import _execute
from query._execute import LATEST
from query._records import to_time
from query.access import Caller, Visibility


@dataclass(frozen=True)
class ProjectActivity:
    team: str
    project: str
    display_name: str
    description: str
    runs: int
    runs_since: int  # runs created since the ``since`` argument
    last_run_at: datetime | None
    last_comment_at: datetime | None
    last_comment_author: str
    last_comment_excerpt: str
    best_model: str  # name of the newest production model version ('' if none)
    best_model_version: int


def projects_overview(
    client: Client, caller: Caller, *, since: datetime, database: str | None = None
) -> tuple[ProjectActivity, ...]:
    """every project the caller may see, declared
    (``project_created``) or only used by runs, with its activity: run counts, the latest
    comment and the newest production model."""
    vis = Visibility.load(client, caller, database)
    params = {**vis.parameters, "since": int(since.timestamp() * 1e9)}
    run_visible = vis.predicate("team", "project", kind="'run'", object_id="run_id")
    runs_sql = f"""
SELECT team, project, count() AS runs, countIf(created_ns >= {{since:Int64}}) AS runs_since,
    max(created_ns) AS last_run_ns
FROM (
    SELECT run_id, anyIf(value, field = 'team') AS team, anyIf(value, field = 'project') AS project,
        toInt64OrZero(anyIf(value, field = 'created_at')) AS created_ns
    FROM {vis.table("run_fields")} WHERE field IN ('team', 'project', 'created_at')
    GROUP BY run_id HAVING created_ns > 0
)
WHERE {run_visible}
GROUP BY team, project
"""
    declared_sql = f"""
SELECT team, project, argMax(display_name, {LATEST}) AS display_name,
    argMax(description, {LATEST}) AS description
FROM {vis.table("projects")}
WHERE {vis.predicate("team", "project", kind="'project'", object_id="project")}
GROUP BY team, project
"""
    comment_visible = vis.predicate("team", "project", kind="target_kind", object_id="target_id")
    comments_sql = f"""
SELECT team, project, max(created_at) AS at, argMax(author, created_at) AS author,
    argMax(body_markdown, created_at) AS body
FROM {vis.table("comments_current")}
WHERE NOT deleted AND {comment_visible}
GROUP BY team, project
"""
    model_visible = vis.predicate("v.team", "v.project", kind="'model'", object_id="v.model_id")
    models_sql = f"""
SELECT v.team AS team, v.project AS project,
    argMax(n.name, (v.created_at, v.version)) AS name, argMax(v.version, v.created_at) AS version
FROM {vis.table("model_versions_current")} AS v
LEFT JOIN (SELECT model_id, argMax(name, {LATEST}) AS name FROM {vis.table("models")}
           GROUP BY model_id) AS n ON n.model_id = v.model_id
WHERE v.stage = 'production' AND {model_visible}
GROUP BY v.team, v.project
"""
    found: dict[tuple[str, str], dict[str, Any]] = {}

    def slot(row: dict[str, Any]) -> dict[str, Any]:
        return found.setdefault((row["team"], row["project"]), {})

    for row in _execute.rows(client, declared_sql, params):
        slot(row).update(display_name=row["display_name"], description=row["description"])
    for row in _execute.rows(client, runs_sql, params):
        slot(row).update(
            runs=int(row["runs"]),
            runs_since=int(row["runs_since"]),
            last_run_at=_time(int(row["last_run_ns"])),
        )
    for row in _execute.rows(client, comments_sql, params):
        slot(row).update(
            last_comment_at=row["at"],
            last_comment_author=row["author"],
            last_comment_excerpt=_excerpt(row["body"]),
        )
    for row in _execute.rows(client, models_sql, params):
        slot(row).update(best_model=row["name"] or "", best_model_version=int(row["version"]))
    out = []
    for (team, project), values in sorted(found.items()):
        if not project:
            continue
        out.append(
            ProjectActivity(
                team=team,
                project=project,
                display_name=values.get("display_name") or project,
                description=values.get("description", ""),
                runs=values.get("runs", 0),
                runs_since=values.get("runs_since", 0),
                last_run_at=values.get("last_run_at"),
                last_comment_at=values.get("last_comment_at"),
                last_comment_author=values.get("last_comment_author", ""),
                last_comment_excerpt=values.get("last_comment_excerpt", ""),
                best_model=values.get("best_model", ""),
                best_model_version=values.get("best_model_version", 0),
            )
        )
    return tuple(out)


def _time(nanos: int) -> datetime | None:
    return to_time(nanos)


def _excerpt(markdown: str, length: int = 120) -> str:
    text = " ".join(markdown.split())
    return text if len(text) <= length else text[: length - 1] + "…"
