"""Automation rules, the delivery log and the inbox: every statement about them.

Read functions for people (the CLI, the portal) take a :class:`~query.access.Caller`: rules and
deliveries belong to a team and are visible to that team's members (and portal admins); an inbox
belongs to one person. The two functions for the processors' automation agent
(:func:`rule_event_payloads`, :func:`delivery_progress`) read across teams: the agent serves
every team.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from query import _execute
from query._execute import LATEST
from query.access import CALLER_TEAMS, Caller, Visibility
from query.sql import quote_identifier as q

RULE_EVENT_TYPES = ("rule_created", "rule_changed", "rule_paused", "rule_resumed", "rule_deleted")
MAX_ROWS = 1_000


@dataclass(frozen=True)
class RuleInfo:
    team: str
    name: str
    trigger: str
    condition: str
    project: str
    stalled_after_s: float
    targets: tuple[str, ...]  # "webhook <url>", "email <address>", "inbox <user>"
    paused: bool
    created_by: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Delivery:
    delivery_id: str
    team: str
    rule: str
    trigger: str
    event_id: str
    action_kind: str
    target: str
    status: str  # retrying, delivered, dead
    attempts: int
    http_status: int
    last_error: str
    text: str
    first_attempt_at: datetime
    last_attempt_at: datetime


@dataclass(frozen=True)
class DeliveryProgress:
    attempts: int  # attempts logged so far (0: never tried)
    status: str  # '' when never tried


def _db(client: Client, database: str | None) -> str:
    return database or client.database or "default"


def _team_filter(caller: Caller, column: str = "team") -> str:
    return "1" if caller.admin else f"has({{{CALLER_TEAMS}:Array(String)}}, {column})"


def rules(
    client: Client, caller: Caller, *, team: str | None = None, database: str | None = None
) -> tuple[RuleInfo, ...]:
    """The rules that exist now in the caller's teams (or ``team``), by team and name."""
    db = _db(client, database)
    sql = f"""
SELECT team, rule, trigger, condition, rule_project, stalled_after_s, targets, paused,
    created_by, created_at, updated_at
FROM {q(db)}.rules_current
WHERE {_team_filter(caller)} AND ({{team:String}} = '' OR team = {{team:String}})
ORDER BY team, rule LIMIT {MAX_ROWS}
"""
    params = {CALLER_TEAMS: sorted(caller.teams), "team": team or ""}
    return tuple(
        RuleInfo(
            team=r["team"],
            name=r["rule"],
            trigger=r["trigger"],
            condition=r["condition"],
            project=r["rule_project"],
            stalled_after_s=float(r["stalled_after_s"]),
            targets=tuple(r["targets"]),
            paused=bool(r["paused"]),
            created_by=r["created_by"],
            created_at=r["created_at"],
            updated_at=r["updated_at"],
        )
        for r in _execute.rows(client, sql, params)
    )


def deliveries(
    client: Client,
    caller: Caller,
    *,
    rule: str | None = None,
    team: str | None = None,
    limit: int = 100,
    database: str | None = None,
) -> tuple[Delivery, ...]:
    """The latest deliveries of the caller's teams' rules (or one rule), newest first."""
    db = _db(client, database)
    sql = f"""
SELECT delivery_id, team, rule, trigger, event_id, action_kind, target, status, attempts,
    http_status, last_error, text, first_attempt_at, last_attempt_at
FROM {q(db)}.delivery_log
WHERE {_team_filter(caller)} AND ({{team:String}} = '' OR team = {{team:String}})
    AND ({{rule:String}} = '' OR rule = {{rule:String}})
ORDER BY last_attempt_at DESC, delivery_id LIMIT {{limit:UInt32}}
"""
    params = {
        CALLER_TEAMS: sorted(caller.teams),
        "team": team or "",
        "rule": rule or "",
        "limit": max(1, min(limit, MAX_ROWS)),
    }
    return tuple(
        Delivery(
            delivery_id=r["delivery_id"],
            team=r["team"],
            rule=r["rule"],
            trigger=r["trigger"],
            event_id=r["event_id"],
            action_kind=r["action_kind"],
            target=r["target"],
            status=r["status"],
            attempts=int(r["attempts"]),
            http_status=int(r["http_status"]),
            last_error=r["last_error"],
            text=r["text"],
            first_attempt_at=r["first_attempt_at"],
            last_attempt_at=r["last_attempt_at"],
        )
        for r in _execute.rows(client, sql, params)
    )


def delivery_attempts(
    client: Client, caller: Caller, delivery_id: str, *, database: str | None = None
) -> list[dict[str, Any]]:
    """Every logged attempt of one delivery, in order (attempt, status, http_status, error)."""
    db = _db(client, database)
    sql = f"""
SELECT attempt, status, http_status, error, attempted_at FROM {q(db)}.deliveries FINAL
WHERE delivery_id = {{id:String}} AND {_team_filter(caller)} ORDER BY attempt
"""
    return _execute.rows(client, sql, {"id": delivery_id, CALLER_TEAMS: sorted(caller.teams)})


# --- for the processors' automation agent (every team) ---------------------------------------


def rule_event_payloads(client: Client, *, database: str | None = None) -> list[bytes]:
    """Every rule event ever accepted, serialized, in log order per rule (the agent's start-up
    state: the archive holds at least every event before the committed offsets)."""
    db = _db(client, database)
    sql = f"""
SELECT hex(any(payload)) AS payload, any(source_offset) AS offset, team, aggregate_id
FROM {q(db)}.events
WHERE event_type IN {{types:Array(String)}}
GROUP BY team, aggregate_id, event_id
ORDER BY team, aggregate_id, offset
"""
    rows = _execute.rows(client, sql, {"types": list(RULE_EVENT_TYPES)})
    return [bytes.fromhex(r["payload"]) for r in rows]  # hex: the driver would decode text


def delivery_progress(
    client: Client, delivery_id: str, *, database: str | None = None
) -> DeliveryProgress:
    """How far one delivery got: attempts logged and the last status."""
    db = _db(client, database)
    sql = f"""
SELECT max(attempt) AS attempts, argMax(status, attempt) AS status
FROM {q(db)}.deliveries FINAL WHERE delivery_id = {{id:String}}
"""
    rows = _execute.rows(client, sql, {"id": delivery_id})
    if not rows or not rows[0]["attempts"]:
        return DeliveryProgress(0, "")
    return DeliveryProgress(int(rows[0]["attempts"]), str(rows[0]["status"]))


# --- the inbox -------------------------------------------------------------------------------


@dataclass(frozen=True)
class InboxItem:
    item_id: str  # stable: "<kind>:<id>"; what inbox_items_read events name
    kind: str  # mention, share, handover, failed_run, alias, rule
    text: str
    team: str
    target_id: str  # the run, model or comment target it is about
    at: datetime
    read: bool


# The caller's failed runs for the inbox: the ``runs`` view's owner, name, status and times, read
# from ``run_fields`` for the runs the caller created or was handed (a superset, narrowed by the
# owner test after the pivot). The view itself pivots every field, param, tag and metric summary
# of every run, which at 10,000 runs took seconds, on every page (the sidebar's unread count).
_FAILED_FIELDS = (
    "team", "project", "name", "owner", "status", "status_reason", "created_at", "finished_at",
)  # fmt: skip


def _failed_runs_sql(vis: Visibility) -> str:
    pivot = ", ".join(f"argMaxIf(value, {LATEST}, field = '{f}') AS f_{f}" for f in _FAILED_FIELDS)
    return f"""
SELECT f.run_id AS run_id, f_team AS team, f_project AS project, f_name AS name,
    f_status_reason AS status_reason,
    if(o.transferred_to != '', o.transferred_to, f_owner) AS owner,
    fromUnixTimestamp64Nano(toInt64OrZero(f_created_at)) AS created_at,
    if(f_finished_at = '', NULL, fromUnixTimestamp64Nano(toInt64OrZero(f_finished_at))) AS finished_at
FROM (
    SELECT run_id, {pivot}
    FROM {vis.table("run_fields")}
    WHERE field IN {_FAILED_FIELDS!r} AND run_id IN (
        SELECT run_id FROM {vis.table("run_fields")}
        WHERE field = 'owner' AND value = {{user:String}}
        UNION ALL
        SELECT target_id FROM {vis.table("ownership")}
        WHERE target_kind = 'run' AND to_user = {{user:String}}
    )
    GROUP BY run_id
    HAVING f_status = 'failed' AND countIf(field = 'created_at') > 0
) AS f
LEFT JOIN (
    SELECT target_id AS run_id, argMax(to_user, (occurred_at, event_id)) AS transferred_to
    FROM {vis.table("ownership")} WHERE target_kind = 'run' GROUP BY target_id
) AS o ON o.run_id = f.run_id
"""


def _inbox_sql(vis: Visibility) -> str:
    comments = vis.predicate("team", "project", kind="target_kind", object_id="target_id")
    runs = vis.predicate("team", "project", kind="'run'", object_id="run_id")
    models = vis.predicate("m.team", "m.project", kind="'model'", object_id="m.model_id")
    return f"""
SELECT item_id, kind, text, team, target_id, at FROM (
    SELECT concat('mention:', comment_id) AS item_id, 'mention' AS kind,
        concat(author, ' mentioned you: ', substring(body_markdown, 1, 200)) AS text,
        CAST(team AS String) AS team, target_id, updated_at AS at
    FROM {vis.table("comments_current")}
    WHERE has(mentions, {{user:String}}) AND NOT deleted AND author != {{user:String}}
        AND {comments}
    UNION ALL
    SELECT concat('share:', event_id), 'share',
        concat(actor, ' shared ', CAST(target_kind AS String), ' ', target_id, ' with you'),
        CAST(team AS String), target_id, occurred_at
    FROM {vis.table("shares")} FINAL
    WHERE active AND grantee_kind = 'user' AND grantee_id = {{user:String}}
    UNION ALL
    SELECT concat('handover:', event_id), 'handover',
        concat(actor, ' handed ', CAST(target_kind AS String), ' ', target_id, ' over to you'),
        CAST(team AS String), target_id, occurred_at
    FROM {vis.table("ownership")} FINAL
    WHERE to_user = {{user:String}} AND actor != {{user:String}}
    UNION ALL
    SELECT concat('failed:', run_id), 'failed_run',
        concat('your run ', name, ' failed', if(status_reason = '', '', concat(': ', status_reason))),
        team, run_id, ifNull(finished_at, created_at)
    FROM ({_failed_runs_sql(vis)})
    WHERE owner = {{user:String}} AND {runs}
    UNION ALL
    SELECT concat('alias:', s.event_id), 'alias',
        concat(m.name, ': alias ', s.name, ' now points to version ', toString(s.version)),
        CAST(m.team AS String), s.model_id, s.occurred_at
    FROM {vis.table("model_stages")} AS s FINAL
    INNER JOIN (SELECT model_id, any(name) AS name, any(team) AS team, any(project) AS project
                FROM {vis.table("models")} GROUP BY model_id) AS m ON m.model_id = s.model_id
    WHERE s.kind = 'alias' AND NOT s.removed AND {models}
    UNION ALL
    SELECT concat('rule:', item_id), 'rule', text, CAST(team AS String), rule, occurred_at
    FROM {vis.table("inbox")} FINAL WHERE user_id = {{user:String}}
)
"""


def inbox(
    client: Client, caller: Caller, *, limit: int = 200, database: str | None = None
) -> tuple[InboxItem, ...]:
    """What concerns the caller, newest first: mentions of them, shares with them, handovers to
    them, their failed runs, model alias moves in their teams, and rule inbox items."""
    vis = Visibility.load(client, caller, database)
    sql = f"""
SELECT i.item_id AS item_id, kind, text, team, target_id, at, r.item_id != '' AS read
FROM ({_inbox_sql(vis)}) AS i
LEFT JOIN (SELECT DISTINCT item_id FROM {vis.table("inbox_reads")} WHERE user_id = {{user:String}})
    AS r ON r.item_id = i.item_id
ORDER BY at DESC, item_id LIMIT {{limit:UInt32}}
"""
    params = {**vis.parameters, "user": caller.user_id, "limit": max(1, min(limit, MAX_ROWS))}
    return tuple(
        InboxItem(
            item_id=r["item_id"],
            kind=r["kind"],
            text=r["text"],
            team=r["team"],
            target_id=r["target_id"],
            at=r["at"],
            read=bool(r["read"]),
        )
        for r in _execute.rows(client, sql, params)
    )


def unread_count(client: Client, caller: Caller, *, database: str | None = None) -> int:
    """How many of the caller's inbox items are unread (the sidebar's badge): of the newest
    :data:`MAX_ROWS`, as :func:`inbox` lists them, counted in the store."""
    vis = Visibility.load(client, caller, database)
    sql = f"""
SELECT countIf(item_id NOT IN (
    SELECT item_id FROM {vis.table("inbox_reads")} WHERE user_id = {{user:String}}))
FROM (SELECT item_id FROM ({_inbox_sql(vis)}) ORDER BY at DESC, item_id LIMIT {MAX_ROWS})
"""
    return int(_execute.scalar(client, sql, {**vis.parameters, "user": caller.user_id}))


# --- per-run state for the automation agent after a restart --------------------------------

# Events about a run written by people, not by its process (domain.rule_book): no sign of life.
_NOT_FROM_THE_RUN = (
    "comment_added",
    "comment_edited",
    "comment_deleted",
    "decision_recorded",
    "resource_shared",
    "resource_unshared",
    "ownership_transferred",
)


@dataclass(frozen=True)
class RunActivity:
    """What the rule book needs of a run it did not see start: its fields, latest values and
    the last event its process sent (log order within the run's partition)."""

    run_id: str
    team: str
    project: str
    status: str
    attributes: dict[str, str]
    params: dict[str, str]
    tags: dict[str, str]
    metrics: dict[str, float]
    last_seen_ns: int
    last_event_id: str


def run_activity(
    client: Client,
    *,
    run_ids: list[str] | None = None,
    database: str | None = None,
) -> list[RunActivity]:
    """Running runs (or the given runs, whatever their status) with their last sign of life."""
    db = _db(client, database)
    where = "r.status = 'running'" if run_ids is None else "r.run_id IN {ids:Array(String)}"
    sql = f"""
SELECT r.run_id AS run_id, r.team AS team, r.project AS project, r.status AS status,
    r.name AS name, r.owner AS owner, r.created_by AS created_by, r.host AS host,
    r.parent_run_id AS parent_run_id, r.sweep_id AS sweep_id,
    r.params AS params, r.tags AS tags, r.metrics_last AS metrics,
    a.last_seen_ns AS last_seen_ns, a.last_event_id AS last_event_id
FROM {q(db)}.runs AS r
INNER JOIN (
    SELECT aggregate_id AS run_id,
        toUnixTimestamp64Nano(max(received_at)) AS last_seen_ns,
        argMax(event_id, (source_offset, received_at)) AS last_event_id
    FROM {q(db)}.events
    WHERE aggregate_kind = 'run' AND event_type NOT IN {{people:Array(String)}}
    GROUP BY aggregate_id
) AS a ON a.run_id = r.run_id
WHERE {where}
LIMIT 100000
"""
    params: dict[str, Any] = {"people": list(_NOT_FROM_THE_RUN)}
    if run_ids is not None:
        params["ids"] = run_ids
    return [
        RunActivity(
            run_id=r["run_id"],
            team=r["team"],
            project=r["project"],
            status=r["status"],
            attributes={
                k: r[k]
                for k in ("name", "owner", "created_by", "host", "parent_run_id", "sweep_id")
            },
            params=dict(r["params"] or {}),
            tags=dict(r["tags"] or {}),
            metrics={k: float(v) for k, v in (r["metrics"] or {}).items()},
            last_seen_ns=int(r["last_seen_ns"]),
            last_event_id=r["last_event_id"],
        )
        for r in _execute.rows(client, sql, params)
    ]


def notified_ids(
    client: Client, delivery_ids: list[str], *, database: str | None = None
) -> set[str]:
    """Which of these deliveries were ever attempted (the book's once-per-run/silence marks)."""
    if not delivery_ids:
        return set()
    db = _db(client, database)
    sql = f"""
SELECT DISTINCT delivery_id FROM {q(db)}.deliveries WHERE delivery_id IN {{ids:Array(String)}}
"""
    return {r["delivery_id"] for r in _execute.rows(client, sql, {"ids": delivery_ids})}
