"""Building contract events in tests: a complete, valid envelope with one line per event.

Envelopes come from the contract's factory (``cairn_contract.envelopes.new_envelope``): a UUIDv7
``event_id`` (which ingest requires) and the current schema version, as every writer makes them.
"""

from __future__ import annotations

import itertools
from typing import Any

from cairn.v1 import envelope_pb2, events_pb2
from cairn_contract.envelopes import new_envelope

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
        envelope=new_envelope(
            aggregate_kind,  # type: ignore[arg-type]
            run_id,
            team=team,
            project=project,
            sequence=seq,
            occurred_at_ns=occurred_at_ns,
            event_id=event_id,
            actor=envelope_pb2.Actor(kind=envelope_pb2.ACTOR_KIND_USER, id=actor),
        )
    )
    getattr(ev, payload_field).CopyFrom(payload)
    return ev
