"""Building contract events in tests: a complete, valid envelope with one line per event."""

from __future__ import annotations

import itertools
import time
import uuid
from typing import Any

from cairn.v1 import envelope_pb2, events_pb2

_counter = itertools.count(1)


def event(
    payload_field: str,
    payload: Any,
    *,
    run_id: str = "run-1",
    sequence: int | None = None,
    team: str = "risk",
    project: str = "churn",
    actor: str = "alice",
    aggregate_kind: int = envelope_pb2.AGGREGATE_KIND_RUN,
    occurred_at_ns: int | None = None,
    event_id: str | None = None,
) -> events_pb2.Event:
    """An Event with ``payload`` set as ``payload_field`` (e.g. ``"run_created"``)."""
    seq = next(_counter) if sequence is None else sequence
    ev = events_pb2.Event(
        envelope=envelope_pb2.Envelope(
            event_id=event_id or str(uuid.uuid4()),
            schema_version=1,
            aggregate_kind=aggregate_kind,
            aggregate_id=run_id,
            sequence=seq,
            occurred_at_ns=occurred_at_ns if occurred_at_ns is not None else time.time_ns(),
            actor=envelope_pb2.Actor(kind=envelope_pb2.ACTOR_KIND_USER, id=actor),
            team=team,
            project=project,
        )
    )
    getattr(ev, payload_field).CopyFrom(payload)
    return ev
