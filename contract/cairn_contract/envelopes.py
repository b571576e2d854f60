"""The envelope every event carries, built in one place, and the schema version writers stamp.

``SCHEMA_VERSION`` is what writers put in ``Envelope.schema_version`` today; readers accept the
versions the event-type table can upcast (``cairn_contract.event_types``). An envelope gets a
fresh UUIDv7 ``event_id`` made from its own ``occurred_at_ns`` unless the caller names one (a
retry of the same event keeps its id: ingest and the projections deduplicate on it).
"""

from __future__ import annotations

import time

from cairn_contract.ids import new_uuid7
from cairn_contract.v1 import envelope_pb2

SCHEMA_VERSION = 1


def new_envelope(
    aggregate_kind: envelope_pb2.AggregateKind.ValueType,
    aggregate_id: str,
    *,
    team: str,
    project: str = "",
    sequence: int = 0,
    occurred_at_ns: int | None = None,
    event_id: str | None = None,
    actor: envelope_pb2.Actor | None = None,
    received_at_ns: int = 0,
) -> envelope_pb2.Envelope:
    """An envelope of the current schema version; ``occurred_at_ns`` defaults to now."""
    now = time.time_ns() if occurred_at_ns is None else occurred_at_ns
    return envelope_pb2.Envelope(
        event_id=event_id or new_uuid7(now),
        schema_version=SCHEMA_VERSION,
        aggregate_kind=aggregate_kind,
        aggregate_id=aggregate_id,
        sequence=sequence,
        occurred_at_ns=now,
        received_at_ns=received_at_ns,
        actor=actor,
        team=team,
        project=project,
    )
