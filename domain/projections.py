"""Projecting events into rows of the read tables (pure: no I/O, no infrastructure imports).

:class:`Projection` takes serialized events one at a time, with their position in the log, and
accumulates the rows they imply in :class:`~domain.columns.ColumnBuffer` s, one per table. The
rows are a function of the event alone, so projecting an event twice yields identical rows with
identical identities, and the tables' deduplication makes that harmless (docs/schema.md).

An event that cannot be decoded or projected raises :class:`PoisonEvent` and leaves no partial
rows behind, so the caller can route it to the dead-letter topic and go on.

The rows of each event type are written by the function of that name in one module per area
(``run_rows``, ``provenance_rows``, ``model_rows``, ``identity_rows``, ``collaboration_rows``,
``automation_rows``, ``media_rows``, ``view_rows``; shared column groups in ``row_fields``). Which event types exist is said
once, by ``cairn_contract.event_types.EVENT_TYPES``: this module looks up one projection per
entry when it is imported, so an event type without one (or with two) fails at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from google.protobuf.message import DecodeError

from cairn_contract.event_types import EVENT_TYPES, upcast
from cairn_contract.v1 import envelope_pb2, events_pb2
from domain import (
    automation_rows,
    collaboration_rows,
    identity_rows,
    media_rows,
    model_rows,
    provenance_rows,
    run_rows,
    tables,
    view_rows,
)
from domain import row_fields as rows
from domain.columns import ColumnBuffer
from domain.metric_rollups import ROLLUP_TABLES
from domain.ownership import AggregateOwners, check_event, claim_for, ownership_key

Event = events_pb2.Event


class PoisonEvent(Exception):
    """An event that cannot be projected; ``reason`` says why (it goes to the dead-letter topic)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class LogPosition:
    topic: str
    partition: int
    offset: int


_SCHEMAS = {schema.name: schema for schema in (*tables.ALL_TABLES, *ROLLUP_TABLES)}


class _Buffers(dict[str, ColumnBuffer]):
    """A table's buffer is made when a row for it first comes: each event is projected into a
    projection of its own first (:meth:`Projection.add`), and making a buffer for every table
    per event was 7 % of the processors' time."""

    def __missing__(self, name: str) -> ColumnBuffer:
        buffer = self[name] = ColumnBuffer(_SCHEMAS[name])
        return buffer


class Projection:
    """The rows implied by a sequence of events, per table."""

    def __init__(self) -> None:
        self.buffers: dict[str, ColumnBuffer] = _Buffers()
        self.position: LogPosition | None = None  # of the event being projected
        self.events = 0
        self.points = 0
        # Rewinds projected into this batch: (run id, to_step, sequence). Before the batch is
        # written, the writer copies the points they abandon that earlier batches stored
        # (query.branches.snapshot_abandoned); the batch's own are copied by :meth:`add`.
        self.rewinds: list[tuple[str, int, int]] = []

    @property
    def rows(self) -> int:
        return sum(buffer.rows for buffer in self.buffers.values())

    def nonempty(self) -> dict[str, ColumnBuffer]:
        return {name: buffer for name, buffer in self.buffers.items() if buffer.rows}

    def add(
        self, payload: bytes, position: LogPosition, owners: AggregateOwners | None = None
    ) -> None:
        """Project one serialized event; raise :class:`PoisonEvent` leaving nothing behind.

        With ``owners``, an event for an aggregate another team owns (domain/ownership.py) is
        poison too, and an accepted event's claim is folded into ``owners``."""
        event = decode(payload)
        kind = event.WhichOneof("payload") or ""
        key = ownership_key(event) if owners is not None else None
        owner = owners.owner(key) if owners is not None and key is not None else None
        if key is not None:
            violation = check_event(event, owner)
            if violation is not None:
                raise PoisonEvent(
                    f"{kind} event {event.envelope.event_id!r} refused: {violation.message} "
                    f"(rule {violation.refusal.value}, owner {violation.owner_team!r})"
                )
        handler = _HANDLERS.get(kind)
        if handler is None:
            raise PoisonEvent(f"event {event.envelope.event_id!r} has no known payload")
        staged = Projection()
        staged.position = position
        try:
            _archive(staged, event, payload, kind, position)  # as written: the version it had
            handler(staged, upcast(event))
        except (ValueError, TypeError, KeyError, OverflowError) as exc:
            raise PoisonEvent(
                f"projecting {kind} event {event.envelope.event_id!r} failed: {exc}"
            ) from exc
        for name, buffer in staged.nonempty().items():
            self.buffers[name].absorb(buffer)
        if kind == "run_rewound":
            self._abandon(event)
        if owners is not None and key is not None:
            claim = claim_for(event, owner)
            if claim is not None:
                owners.apply(claim)
        self.events += 1
        self.points += staged.points

    def _abandon(self, event: Event) -> None:
        """Keep the points a rewind abandons as earlier attempts: those of this batch here (they
        are not stored yet), the stored ones through :attr:`rewinds` (see above)."""
        env = event.envelope
        to_step = event.run_rewound.to_step
        earlier = [(t, s) for r, t, s in self.rewinds if r == env.aggregate_id]
        self.rewinds.append((env.aggregate_id, to_step, env.sequence))
        metrics = self.buffers["metrics"]
        if not metrics.rows:
            return
        columns = dict(zip(metrics.schema.column_names, metrics.columns(), strict=True))
        runs = np.asarray(columns["run_id"], dtype=object)
        mask = (runs == env.aggregate_id) & (columns["step"] > to_step)
        mask &= columns["sequence"] < env.sequence
        for t, s in earlier:  # points an earlier rewind abandoned belong to its attempt
            mask &= ~((columns["step"] > t) & (columns["sequence"] < s))
        count = int(mask.sum())
        keys = np.asarray(columns["key"], dtype=object)[mask]
        self.buffers["metric_attempts"].extend(
            count,
            run_id=env.aggregate_id,
            rewind_sequence=env.sequence,
            rewind_to_step=to_step,
            key=keys,
            step=columns["step"][mask],
            timestamp=np.asarray(columns["timestamp"], dtype=np.int64)[mask],
            value=columns["value"][mask],
            sequence=columns["sequence"][mask],
        )


def decode(payload: bytes) -> Event:
    event = Event()
    try:
        event.ParseFromString(payload)
    except DecodeError as exc:
        raise PoisonEvent(f"undecodable event ({len(payload)} bytes): {exc}") from exc
    if not event.envelope.event_id:
        raise PoisonEvent("event without envelope.event_id")
    return event


# Events whose content is its own table's rows (points, samples, bins): the archive row keeps
# their envelope and log position but not their bytes, which are the bulk of all traffic and which
# nothing reads from here (Kafka is the archive of record; replay reads Kafka).
_CONTENT_PROJECTED_ELSEWHERE = frozenset({"metrics", "system_metrics", "histograms"})


def _archive(p: Projection, event: Event, payload: bytes, kind: str, pos: LogPosition) -> None:
    env = event.envelope
    p.buffers["events"].append(
        event_id=env.event_id,
        event_type=kind,
        schema_version=env.schema_version,
        aggregate_kind=rows.enum_label(envelope_pb2.AggregateKind, env.aggregate_kind),
        aggregate_id=env.aggregate_id,
        sequence=env.sequence,
        occurred_at=env.occurred_at_ns,
        received_at=env.received_at_ns,
        actor_kind=rows.actor_kind(event),
        actor=rows.actor(event),
        team=env.team,
        project=env.project,
        payload=b"" if kind in _CONTENT_PROJECTED_ELSEWHERE else payload,
        source_topic=pos.topic,
        source_partition=pos.partition,
        source_offset=pos.offset,
    )


# Every event type of the contract's one table has exactly one projection: the function of that
# name in one of these modules (checked when this module is imported).
_ROW_MODULES = (
    run_rows,
    provenance_rows,
    model_rows,
    identity_rows,
    collaboration_rows,
    automation_rows,
    media_rows,
    view_rows,
)


def _handler(event_type: str) -> Callable[[Projection, Event], None]:
    found = [getattr(m, event_type) for m in _ROW_MODULES if callable(getattr(m, event_type, None))]
    if len(found) != 1:
        raise LookupError(f"event type {event_type!r} has {len(found)} projections, not one")
    handler: Callable[[Projection, Event], None] = found[0]
    return handler


_HANDLERS = {event_type: _handler(event_type) for event_type in EVENT_TYPES}


def handled_event_types() -> frozenset[str]:
    return frozenset(_HANDLERS)
