"""A project's events as the log holds them, for ``cairn export-bundle`` (docs/import-export.md).

The ``events`` table is the archive of every accepted event with its stored bytes (envelope and
payload, as ingest stamped them). A bundle is every event of one project of one team: the
events whose envelope names that project (runs and their points, artifacts, lineage, comments,
the project itself). Only a member of the team exports it: a share lets someone read some runs,
never carry the whole project elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from clickhouse_connect.driver.client import Client

from cairn_contract.errors import PermissionDeniedError
from cairn_contract.v1 import envelope_pb2, events_pb2
from query import _execute
from query.access import Caller
from query.sql import quote_identifier as q

CHUNK_EVENTS = 2_000


def check_team(caller: Caller, team: str) -> None:
    """PERMISSION_DENIED ``team_scope`` unless ``caller`` is a member of ``team``."""
    if caller.admin or team in caller.teams:
        return
    raise PermissionDeniedError(
        f"team: {team!r} is not one of your teams; only its members export its projects "
        "(rule team_scope)",
        field="team",
        rule="team_scope",
    )


def count_project_events(
    client: Client, caller: Caller, team: str, project: str, *, database: str | None = None
) -> int:
    check_team(caller, team)
    db = database or client.database or "default"
    sql = f"""
SELECT uniqExact(aggregate_id, event_id) AS n FROM {q(db)}.events
WHERE team = {{team:String}} AND project = {{project:String}}
"""
    found = _execute.rows(client, sql, {"team": team, "project": project})
    return int(found[0]["n"]) if found else 0


_ENVELOPE_SQL = """
SELECT event_id, any(CAST(event_type AS String)) AS type, any(schema_version) AS version,
    any(CAST(aggregate_kind AS String)) AS kind, aggregate_id, any(sequence) AS seq,
    any(toUnixTimestamp64Nano(occurred_at)) AS occurred, any(CAST(actor_kind AS String)) AS who,
    any(actor) AS actor, any(project) AS proj, hex(any(payload)) AS payload,
    min(received_at) AS received, min(source_partition) AS part, min(source_offset) AS offset
FROM {db}.events
WHERE team = {{team:String}} AND project = {{project:String}}
GROUP BY aggregate_id, event_id
ORDER BY received, part, offset, event_id
"""

_POINTS_SQL = """
SELECT run_id, sequence, CAST(key AS String) AS key, groupArray(step) AS steps,
    groupArray(value) AS values, groupArray(toUnixTimestamp64Nano(timestamp)) AS times
FROM (
    SELECT run_id, sequence, key, step, value, timestamp FROM {db}.metrics FINAL
    WHERE run_id IN {{runs:Array(String)}} ORDER BY run_id, sequence, key, step
)
GROUP BY run_id, sequence, key
"""


def _label_value(enum_type: Any, label: str) -> int:
    """``finished`` -> ``RUN_STATUS_FINISHED``'s number (the archive stores readable labels)."""
    prefix = enum_type.Name(0).removesuffix("UNSPECIFIED")
    try:
        value: int = enum_type.Value(prefix + label.upper())
    except ValueError:
        return 0
    return value


def _rebuilt(row: dict[str, Any], team: str, series: list[dict[str, Any]]) -> bytes:
    """A metric batch event from its archived envelope and the points stored under its
    sequence (the archive keeps no bytes of points: they live in ``metrics``)."""
    event = events_pb2.Event()
    env = event.envelope
    env.event_id = row["event_id"]
    env.schema_version = int(row["version"])
    env.aggregate_kind = _label_value(envelope_pb2.AggregateKind, row["kind"])  # type: ignore[assignment]
    env.aggregate_id = row["aggregate_id"]
    env.sequence = int(row["seq"])
    env.occurred_at_ns = int(row["occurred"])
    env.actor.kind = _label_value(envelope_pb2.ActorKind, row["who"])  # type: ignore[assignment]
    env.actor.id = row["actor"]
    env.team = team
    env.project = row["proj"]
    for s in series:
        event.metrics.series.add(
            key=s["key"], steps=s["steps"], values=s["values"], timestamps_ns=s["times"]
        )
    return event.SerializeToString()


def project_event_payloads(
    client: Client,
    caller: Caller,
    team: str,
    project: str,
    *,
    database: str | None = None,
    chunk: int = CHUNK_EVENTS,
) -> Iterator[list[bytes]]:
    """Every event of ``project`` in ``team``, serialized, once each, in the order ingest
    received them (an aggregate's events in log order: they share its partition), so a replay
    creates a parent run before its children and forks; in chunks of ``chunk``.

    Events are their stored bytes, except metric batches, whose points the archive does not
    keep: each is rebuilt from its envelope and the points ``metrics`` holds under its sequence.
    A point later logged again at the same step, or abandoned by a rewind, is therefore not in
    the bundle, nor are system-metric and histogram batches (``_LEFT_OUT``).
    """
    check_team(caller, team)
    db = q(database or client.database or "default")
    rows = _execute.rows(client, _ENVELOPE_SQL.format(db=db), {"team": team, "project": project})
    runs = sorted({r["aggregate_id"] for r in rows if r["type"] == "metrics"})
    points: dict[tuple[str, int], list[dict[str, Any]]] = {}
    if runs:
        for p in _execute.rows(client, _POINTS_SQL.format(db=db), {"runs": runs}):
            points.setdefault((p["run_id"], int(p["sequence"])), []).append(p)
    out: list[bytes] = []
    for r in rows:
        if r["type"] == "metrics":
            series = points.get((r["aggregate_id"], int(r["seq"])), [])
            if series:
                out.append(_rebuilt(r, team, series))
        elif r["type"] not in _LEFT_OUT:
            out.append(bytes.fromhex(r["payload"]))  # hex: the driver would decode text
        if len(out) >= chunk:
            yield out
            out = []
    if out:
        yield out


_LEFT_OUT = frozenset({"system_metrics", "histograms"})
