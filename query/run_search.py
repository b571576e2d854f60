"""Finding a run by what a person remembers of it: the portal's run pickers, as they type.

:func:`find_runs` searches **every** run the caller may see (the visibility rule of
:mod:`query.access`, the same as :func:`query.runs.search_runs`), never a recent page of them: a
team with 2,000 newer runs still finds its production run from two months ago. A run matches
when the text is

- part of its **name** (case-insensitive),
- the start of its **run id** (so a pasted id, whole or cut short, finds it),
- part of a current **tag**'s key or value (a removed tag no longer matches), or
- part of a current **param**'s value; ``key=value`` text matches a param or tag by both.

Matches are ranked: an exact name or id first, then name and id matches, then tag and param
matches, each group newest first. ``limit`` is how many to *show* (the picker's list), not how
many are searched: :attr:`RunMatches.total` counts every match, so the picker can say "20 of
137". One statement per call (the caller's shares are read inside it,
:meth:`~query.access.Visibility.deferred`), cheap enough to run on every pause in typing: it
reads five run fields per run and only the tags and params whose text matches.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from clickhouse_connect.driver.client import Client

from cairn_contract.errors import ValidationError
from query import _execute
from query._execute import LATEST
from query.access import Caller, Visibility

MAX_TEXT = 200  # characters: longer than any name or id a person would type
MAX_SHOWN = 200  # a picker's list longer than this is no help to anyone


@dataclass(frozen=True)
class RunMatch:
    """One run found, with what the picker shows and why it matched."""

    run_id: str
    name: str
    team: str
    project: str
    status: str
    created: datetime | None
    matched: str  # "name", "id", "tag key=value", "param key=value", or "" (no text: newest)


@dataclass(frozen=True)
class RunMatches:
    runs: tuple[RunMatch, ...]  # at most ``limit``, best first
    total: int  # every visible run that matches


_FIELDS = ("name", "team", "project", "status", "created_at")

# Current (latest, not removed) tags and params whose text holds the search text; one row per
# run, ``hit`` = the first such ``key=value``. ``{matches}`` is the condition on key and value.
_KEYED = """
SELECT run_id, any(concat(key, '=', value)) AS hit FROM (
    SELECT run_id, key, argMax(value, {latest}) AS value{removed}
    FROM {table} GROUP BY run_id, key
) WHERE {matches} GROUP BY run_id
"""


def _check(text: str, limit: int) -> str:
    if not isinstance(text, str):
        raise ValidationError("text must be a string", field="text", rule="type")
    text = text.strip()
    if len(text) > MAX_TEXT:
        raise ValidationError(
            f"text must be at most {MAX_TEXT} characters, got {len(text)}",
            field="text",
            rule="max_length",
        )
    if not 1 <= limit <= MAX_SHOWN:
        raise ValidationError(
            f"limit must be between 1 and {MAX_SHOWN}, got {limit}", field="limit", rule="range"
        )
    return text


def _sql(vis: Visibility, *, text: bool, teams: bool, project: bool) -> str:
    pivot = ", ".join(f"argMaxIf(value, {LATEST}, field = '{name}') AS {name}" for name in _FIELDS)
    listed = ", ".join(f"'{name}'" for name in _FIELDS)
    runs = (
        f"(SELECT run_id, {pivot} FROM {vis.table('run_fields')} WHERE field IN ({listed})"
        " GROUP BY run_id HAVING countIf(field = 'created_at') > 0) AS r"
    )
    visible = vis.predicate("r.team", "r.project", kind="'run'", object_id="r.run_id")
    scope = [visible]
    if teams:
        scope.append("has({teams:Array(String)}, r.team)")
    if project:
        scope.append("r.team = {project_team:String} AND r.project = {project:String}")
    if not text:
        select = "0 AS rank, '' AS matched"
        source = runs
    else:
        name_hit = "positionCaseInsensitiveUTF8(r.name, {q:String}) > 0"
        id_hit = "startsWith(lower(r.run_id), {lq:String})"
        keyed = "positionCaseInsensitiveUTF8(concat(key, '=', value), {q:String}) > 0"
        value_hit = "positionCaseInsensitiveUTF8(value, {q:String}) > 0"
        key_hit = "positionCaseInsensitiveUTF8(key, {q:String}) > 0"
        tags = _KEYED.format(
            latest=LATEST,
            removed=f", argMax(removed, {LATEST}) AS removed",
            table=vis.table("tags"),
            matches=f"NOT removed AND ({key_hit} OR {value_hit} OR {keyed})",
        )
        params = _KEYED.format(
            latest=LATEST,
            removed="",
            table=vis.table("params"),
            # a param's key alone would match most runs ("lr"): its value, or "key=value"
            matches=f"{value_hit} OR (position({{q:String}}, '=') > 0 AND {keyed})",
        )
        source = (
            f"{runs} LEFT JOIN ({tags}) AS t ON t.run_id = r.run_id"
            f" LEFT JOIN ({params}) AS p ON p.run_id = r.run_id"
        )
        select = (
            "multiIf(lowerUTF8(r.name) = {lq:String} OR lower(r.run_id) = {lq:String}, 0,"
            f" {name_hit} OR {id_hit}, 1, 2) AS rank,"
            f" multiIf({name_hit}, 'name', {id_hit}, 'id', t.hit != '', concat('tag ', t.hit),"
            " concat('param ', p.hit)) AS matched"
        )
        scope.append(f"({name_hit} OR {id_hit} OR t.hit != '' OR p.hit != '')")
    return (
        f"SELECT r.run_id AS run_id, r.name AS name, r.team AS team, r.project AS project,"
        f" r.status AS status, toInt64OrZero(r.created_at) AS created_ns, {select},"
        " count() OVER () AS total"
        f" FROM {source} WHERE {' AND '.join(scope)}"
        " ORDER BY rank, created_ns DESC, run_id LIMIT {limit:UInt32}"
    )


def find_runs(
    client: Client,
    caller: Caller,
    text: str,
    *,
    limit: int = 20,
    teams: Collection[str] | None = None,
    project: tuple[str, str] | None = None,
    database: str | None = None,
) -> RunMatches:
    """The visible runs matching ``text`` (see the module docstring), best ``limit`` first.

    Empty ``text`` lists the newest visible runs. ``teams`` narrows to runs of those teams (what
    the caller may share), ``project`` = (team, project) to one project. Raises
    :class:`ValidationError` for text longer than :data:`MAX_TEXT` (field ``text``) or a
    ``limit`` outside 1..:data:`MAX_SHOWN` (field ``limit``).
    """
    text = _check(text, limit)
    vis = Visibility.deferred(caller, database or client.database or "default")
    sql = _sql(vis, text=bool(text), teams=teams is not None, project=project is not None)
    params: dict[str, object] = {**vis.parameters, "limit": limit}
    if text:
        params |= {"q": text, "lq": text.lower()}
    if teams is not None:
        params["teams"] = sorted(teams)
    if project is not None:
        params |= {"project_team": project[0], "project": project[1]}
    rows = _execute.rows(client, sql, params)
    found = tuple(
        RunMatch(
            run_id=str(row["run_id"]),
            name=str(row["name"]),
            team=str(row["team"]),
            project=str(row["project"]),
            status=str(row["status"]),
            created=_moment(int(row["created_ns"])),
            matched=str(row["matched"]),
        )
        for row in rows
    )
    return RunMatches(found, int(rows[0]["total"]) if rows else 0)


def _moment(ns: int) -> datetime | None:
    return datetime.fromtimestamp(ns / 1e9, UTC) if ns > 0 else None
