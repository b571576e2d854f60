"""The event-type table covers the contract, and events are keyed for per-aggregate order."""

from __future__ import annotations

from cairn.v1 import events_pb2
from cairn_contract.event_types import EVENT_TYPES, IDENTITY_EVENT_TYPES, partition_key
from tests.event_samples import metric_event, sample_event


def test_every_payload_of_the_contract_has_an_event_type() -> None:
    payload = events_pb2.Event.DESCRIPTOR.oneofs_by_name["payload"]
    assert {f.name for f in payload.fields} == set(EVENT_TYPES)


def test_identity_events_are_keyed_by_team_and_others_by_aggregate() -> None:
    assert partition_key(metric_event("run-9"), "metrics") == "run-9"
    for event_type in IDENTITY_EVENT_TYPES:
        assert partition_key(sample_event(event_type, team="audio"), event_type) == "audio"
