"""The upcaster seam: an event written at an older schema version reaches readers in the
current shape, through the event-type table's upcasters (cairn_contract.event_types)."""

from __future__ import annotations

from dataclasses import replace

from cairn_contract.envelopes import SCHEMA_VERSION
from cairn_contract.event_types import EVENT_TYPES, SUPPORTED_SCHEMA_VERSIONS, upcast
from cairn_contract.v1 import events_pb2
from domain.projections import LogPosition, Projection
from tests.event_samples import sample_event


def _v1_to_v2(event: events_pb2.Event) -> None:
    """A synthetic version 2 of ``run_created``: ``description`` became required, and version 1
    runs get one derived from their name."""
    created = event.run_created
    if not created.description:
        created.description = f"(recorded before v2) {created.name}"


V2_TYPES = {
    **EVENT_TYPES,
    "run_created": replace(EVENT_TYPES["run_created"], upcasters={1: _v1_to_v2}),
}


def _v1_run_created() -> events_pb2.Event:
    event = sample_event("run_created")
    event.envelope.schema_version = 1
    event.run_created.description = ""
    return event


def test_a_v1_event_is_upcast_to_v2_by_its_types_upcaster() -> None:
    event = _v1_run_created()
    name = event.run_created.name

    upcast(event, types=V2_TYPES, current=2)

    assert event.envelope.schema_version == 2
    assert event.run_created.description == f"(recorded before v2) {name}"


def test_a_v2_event_is_left_as_written() -> None:
    event = _v1_run_created()
    event.envelope.schema_version = 2
    event.run_created.description = "written by a v2 client"

    upcast(event, types=V2_TYPES, current=2)

    assert event.run_created.description == "written by a v2 client"


def test_a_type_without_an_upcaster_only_changes_its_version_number() -> None:
    event = sample_event("run_renamed")
    event.envelope.schema_version = 1
    before = event.run_renamed.SerializeToString()

    upcast(event, types=V2_TYPES, current=2)

    assert event.envelope.schema_version == 2
    assert event.run_renamed.SerializeToString() == before


def test_todays_table_reads_every_supported_version_unchanged() -> None:
    assert max(SUPPORTED_SCHEMA_VERSIONS) == SCHEMA_VERSION
    event = _v1_run_created()
    before = event.SerializeToString()
    assert upcast(event).SerializeToString() == before


def test_the_projection_archives_the_event_as_written() -> None:
    event = _v1_run_created()
    projection = Projection()
    projection.add(event.SerializeToString(), LogPosition("cairn.events.v1", 0, 7))
    archived = projection.buffers["events"]
    assert archived.rows == 1
