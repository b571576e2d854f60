"""Searching runs with the filter language, across every project the caller may see.

:func:`search_runs` parses the filter, order and column specs (:mod:`domain.filters`), then
builds one query that reads only what they mention: the run fields they need pivoted from
``run_fields`` (latest value per field, the same rule as the ``runs`` view), and one pivot per
namespace (``params``, ``tags``, ``metric_summaries``) restricted to the keys they name. That is
several times cheaper than the ``runs`` view, which assembles every field and every map for
every run before filtering (docs/benchmarks.md has the figures).

Every key is bound as a parameter and every literal too (:mod:`query.filters_sql`); the
visibility rule (:mod:`query.access`) is part of the same WHERE clause.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from clickhouse_connect.driver.client import Client

from cairn_contract.errors import ValidationError
from domain.filters import (
    Field,
    Namespace,
    OrderKey,
    parse_field,
    parse_filter,
    parse_order_by,
)
from query import _execute
from query._execute import LATEST
from query.access import Caller, Visibility
from query.filters_sql import Parameters, compile_filter

DEFAULT_COLUMNS = ("run_id", "team", "project", "name", "owner", "status", "created", "finished")
DEFAULT_ORDER = "created desc"
MAX_LIMIT = 10_000


# Attribute -> run fields (rows of ``run_fields``) it is computed from.
_FIELDS_OF: dict[str, tuple[str, ...]] = {
    "run_id": (),
    "owner": ("owner",),
    "created_by": ("owner",),
    "created": ("created_at",),
    "started": ("started_at",),
    "finished": ("finished_at",),
    "duration": ("started_at", "finished_at"),
}
# Attribute -> SQL over the pivot ``r`` (columns ``f_<field>``) and the ownership join ``o``.
_EXPRESSIONS: dict[str, str] = {
    "run_id": "r.run_id",
    "owner": "if(o.owner != '', o.owner, r.f_owner)",
    "created_by": "r.f_owner",
    "created": "fromUnixTimestamp64Nano(toInt64OrZero(r.f_created_at))",
    "started": "fromUnixTimestamp64Nano(toInt64OrZero(r.f_started_at))",
    "finished": (
        "if(r.f_finished_at = '', NULL, fromUnixTimestamp64Nano(toInt64OrZero(r.f_finished_at)))"
    ),
    "duration": (
        "if(r.f_finished_at = '', NULL,"
        " (toInt64OrZero(r.f_finished_at) - toInt64OrZero(r.f_started_at)) / 1e9)"
    ),
    "exit_code": "toInt32OrZero(r.f_exit_code)",
    "archived": "(r.f_archived = '1')",
    "git_dirty": "(r.f_git_dirty = '1')",
}
_NULLABLE = frozenset({"finished", "duration"})
_ALIASES = {Namespace.PARAMS: "p", Namespace.TAGS: "t", Namespace.METRICS: "m"}


@dataclass
class RunColumns:
    """Resolves filter fields to SQL over the pivots, remembering which pivots are needed."""

    params: Parameters
    fields: set[str] = field(default_factory=lambda: {"team", "project", "created_at"})
    keys: dict[Namespace, dict[str, int]] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)  # pivot columns referenced (``p.n0``, ``m.last1``)
    needs_owner: bool = False

    def _index(self, f: Field) -> int:
        namespace = Namespace.METRICS if f.namespace.value.startswith("metrics") else f.namespace
        slots = self.keys.setdefault(namespace, {})
        return slots.setdefault(f.name, len(slots))

    def _alias(self, f: Field) -> str:
        return _ALIASES.get(f.namespace, "m")

    def value(self, f: Field, *, numeric: bool = False) -> str:
        if f.namespace is Namespace.ATTRIBUTE:
            self.fields.update(_FIELDS_OF.get(f.name, (f.name,)))
            self.needs_owner |= f.name == "owner"
            return _EXPRESSIONS.get(f.name, f"r.f_{f.name}")
        i = self._index(f)
        column = {
            Namespace.PARAMS: f"n{i}" if numeric else f"t{i}",
            Namespace.TAGS: f"v{i}",
            Namespace.METRICS: f"last{i}",
            Namespace.METRICS_MIN: f"min{i}",
            Namespace.METRICS_MAX: f"max{i}",
        }[f.namespace]
        qualified = f"{self._alias(f)}.{column}"
        self.used.add(qualified)
        return qualified

    def present(self, f: Field) -> str | None:
        if f.namespace is Namespace.ATTRIBUTE:
            return None
        return f"{self._alias(f)}.h{self._index(f)}"

    def nullable(self, f: Field) -> bool:
        return f.namespace is Namespace.ATTRIBUTE and f.name in _NULLABLE

    def output(self, f: Field) -> str:
        """The value for a result column: NULL where the run lacks the key."""
        present = self.present(f)
        value = self.value(f)
        return f"if({present}, {value}, NULL)" if present else value

    def from_clause(self, vis: Visibility) -> str:
        """The pivots (and joins) the resolved fields need, as a FROM clause."""
        run_fields = sorted(self.fields)
        pivot = ", ".join(
            f"argMaxIf(value, {LATEST}, field = '{name}') AS f_{name}" for name in run_fields
        )
        listed = ", ".join(f"'{name}'" for name in run_fields)
        sql = (
            f"(SELECT run_id, {pivot} FROM {vis.table('run_fields')}"
            f" WHERE field IN ({listed}) GROUP BY run_id"
            " HAVING countIf(field = 'created_at') > 0) AS r"
        )
        if self.needs_owner:
            sql += (
                " LEFT JOIN (SELECT target_id AS run_id,"
                " argMax(to_user, (occurred_at, event_id)) AS owner"
                f" FROM {vis.table('ownership')} WHERE target_kind = 'run'"
                " GROUP BY target_id) AS o ON o.run_id = r.run_id"
            )
        for namespace, keys in self.keys.items():
            alias = _ALIASES[namespace]
            pivot = self._pivot(vis, namespace, keys)
            sql += f" LEFT JOIN ({pivot}) AS {alias} ON {alias}.run_id = r.run_id"
        return sql

    def _pivot(self, vis: Visibility, namespace: Namespace, keys: dict[str, int]) -> str:
        placeholders = {key: self.params.bind(key, "String") for key in keys}
        columns: list[str] = []
        for key, i in keys.items():
            k = placeholders[key]
            if namespace is Namespace.TAGS:
                present = f"countIf(key = {k}) > 0 AND NOT argMaxIf(removed, {LATEST}, key = {k})"
            else:
                present = f"countIf(key = {k}) > 0"
            columns.append(f"{present} AS h{i}")
            candidates = {
                f"t{i}": f"argMaxIf(value, {LATEST}, key = {k})",
                f"n{i}": f"argMaxIf(value_number, {LATEST}, key = {k})",
                f"v{i}": f"argMaxIf(value, {LATEST}, key = {k})",
                f"last{i}": f"argMaxMergeIf(last_value, key = {k})",
                f"min{i}": f"minIf(min_value, key = {k})",
                f"max{i}": f"maxIf(max_value, key = {k})",
            }
            alias = _ALIASES[namespace]
            columns += [
                f"{sql} AS {name}"
                for name, sql in candidates.items()
                if f"{alias}.{name}" in self.used
            ]
        table = {
            Namespace.PARAMS: "params",
            Namespace.TAGS: "tags",
            Namespace.METRICS: "metric_summaries_current",
        }[namespace]
        return (
            f"SELECT run_id, {', '.join(columns)} FROM {vis.table(table)}"
            f" WHERE key IN ({', '.join(placeholders.values())}) GROUP BY run_id"
        )


@dataclass(frozen=True)
class _Plan:
    sql: str
    parameters: dict[str, object]
    labels: tuple[str, ...]


def _columns(columns: Sequence[str] | None) -> tuple[Field, ...]:
    specs = list(columns) if columns is not None else list(DEFAULT_COLUMNS)
    if not specs:
        raise ValidationError("columns must name at least one field", field="columns", rule="empty")
    fields: dict[str, Field] = {}
    for spec in specs:
        parsed = parse_field(spec)
        fields.setdefault(parsed.label, parsed)
    return tuple(fields.values())


def _order_sql(keys: tuple[OrderKey, ...], resolver: RunColumns) -> str:
    terms = [
        f"{resolver.output(key.field)} {'DESC' if key.descending else 'ASC'} NULLS LAST"
        for key in keys
    ]
    return ", ".join([*terms, "r.run_id"])


def _plan(
    vis: Visibility,
    filter: str | None,
    order_by: str | Sequence[str] | None,
    columns: Sequence[str] | None,
    limit: int | None,
    offset: int,
) -> _Plan:
    expr = parse_filter(filter)
    order = parse_order_by(DEFAULT_ORDER if order_by is None else order_by)
    wanted = _columns(columns)
    params = Parameters()
    resolver = RunColumns(params)
    condition = compile_filter(expr, resolver, params)
    select = ", ".join(f"{resolver.output(f)} AS c{i}" for i, f in enumerate(wanted))
    order_sql = _order_sql(order, resolver)
    visible = vis.predicate("r.f_team", "r.f_project", kind="'run'", object_id="r.run_id")
    sql = f"SELECT {select} FROM {resolver.from_clause(vis)} WHERE {visible} AND {condition}"
    if limit is not None:
        sql += f" ORDER BY {order_sql} LIMIT {int(limit)} OFFSET {int(offset)}"
    return _Plan(sql, {**params.values, **vis.parameters}, tuple(f.label for f in wanted))


def _check_page(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(
            f"limit must be between 1 and {MAX_LIMIT}, got {limit}", field="limit", rule="range"
        )
    if offset < 0:
        raise ValidationError(f"offset must be >= 0, got {offset}", field="offset", rule="range")


def search_runs(
    client: Client,
    caller: Caller,
    filter: str | None = None,
    order_by: str | Sequence[str] | None = None,
    limit: int = 100,
    offset: int = 0,
    columns: Sequence[str] | None = None,
    *,
    database: str | None = None,
) -> pd.DataFrame:
    """Runs matching ``filter`` that ``caller`` may see, one row each, in ``order_by`` order.

    ``order_by`` is ``"field [asc|desc], ..."`` (default ``created desc``; ties by run id, runs
    lacking a sort key last); ``columns`` are field names as in filters (default
    :data:`DEFAULT_COLUMNS`), and name the result's columns (``params.lr``, ``status``); a
    column for a key a run lacks is NULL. Raises :class:`~domain.filters.FilterError` (a
    ``ValidationError``) pointing at the character where a spec failed to parse.
    """
    _check_page(limit, offset)
    # Malformed specs fail before any I/O.
    parse_filter(filter)
    parse_order_by(order_by)
    _columns(columns)
    vis = Visibility.load(client, caller, database)
    plan = _plan(vis, filter, order_by, columns, limit, offset)
    df = _execute.frame(client, plan.sql, plan.parameters)
    if df.shape[1] == 0:  # no rows: the driver returns no columns either
        return pd.DataFrame(columns=list(plan.labels))
    df.columns = list(plan.labels)
    return df


def page_sql(
    vis: Visibility,
    filter: str | None,
    order_by: str | Sequence[str] | None,
    limit: int,
    offset: int,
) -> tuple[str, dict[str, object]]:
    """The SQL (and its parameters) of one page of :func:`search_runs`' run ids, in order, as
    column ``c0``: for callers that fold the page into a statement of their own."""
    _check_page(limit, offset)
    plan = _plan(vis, filter, order_by, ["run_id"], limit, offset)
    return plan.sql, plan.parameters


def count_runs(
    client: Client, caller: Caller, filter: str | None = None, *, database: str | None = None
) -> int:
    """How many runs :func:`search_runs` would return without a limit."""
    parse_filter(filter)  # fail before any I/O
    vis = Visibility.load(client, caller, database)
    plan = _plan(vis, filter, None, ["run_id"], None, 0)
    return int(_execute.scalar(client, f"SELECT count() FROM ({plan.sql})", plan.parameters))


# --- the portal's per-run reads: key choices (its artifacts: query.run_details.run_artifacts) --

MAX_KEYS = 500


def known_keys(
    client: Client,
    caller: Caller,
    namespace: str,
    *,
    project: tuple[str, str] | None = None,
    limit: int = MAX_KEYS,
    database: str | None = None,
) -> tuple[str, ...]:
    """the param, tag or metric keys (``namespace`` =
    params / tags / metrics) of runs the caller may see, most used first: the column chooser's
    choices. ``project`` = (team, project) narrows to one project."""
    table = {"params": "params", "tags": "tags", "metrics": "metric_summaries_current"}[namespace]
    vis = Visibility.load(client, caller, database)
    scope = "1"
    params: dict[str, Any] = {**vis.parameters, "limit": min(max(limit, 1), MAX_KEYS)}
    if project is not None:
        scope = "team = {team:String} AND project = {project:String}"
        params |= {"team": project[0], "project": project[1]}
    visible = vis.predicate("team", "project", kind="'run'", object_id="run_id")
    sql = f"""
SELECT key, uniqExact(run_id) AS runs FROM {vis.table(table)}
WHERE run_id IN (SELECT run_id FROM ({vis.run_scope()}) WHERE {visible} AND {scope})
GROUP BY key ORDER BY runs DESC, key LIMIT {{limit:UInt32}}
"""
    return tuple(row["key"] for row in _execute.rows(client, sql, params))
