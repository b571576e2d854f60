"""The recording sink the portal's page tests use (:class:`ui.ingest_writer.RecordingSink`)
answers like the real one (:class:`ui.ingest_writer.IngestWriter` appending through a real
ingest server to Kafka): every case below runs against both."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cairn.v1 import events_pb2
from tests.event_samples import metric_event, sample_event
from tests.pipeline import TEAM, Pipeline
from ui.ingest_writer import EventSink, IngestWriter, KeyRing, RecordingSink

pytestmark = pytest.mark.integration


@pytest.fixture(params=["recording", "ingest"])
def sink(request: pytest.FixtureRequest) -> Iterator[EventSink]:
    if request.param == "recording":
        yield RecordingSink()
        return
    pipeline: Pipeline = request.getfixturevalue("pipeline")
    writer = IngestWriter(
        pipeline.ingest.address, KeyRing(configured={TEAM: pipeline.stack.api_key})
    )
    yield writer
    writer.close()


def _run_events() -> list[events_pb2.Event]:
    renamed = sample_event("run_renamed", team=TEAM, sequence=1)
    points = metric_event(points=3, sequence=2, team=TEAM)
    points.envelope.aggregate_id = renamed.envelope.aggregate_id
    return [renamed, points]


def test_an_append_answers_how_many_events_and_which_teams(sink: EventSink) -> None:
    result = sink.append(_run_events())
    assert (result.events, result.teams) == (2, (TEAM,))


def test_an_empty_append_writes_nothing(sink: EventSink) -> None:
    result = sink.append([])
    assert (result.events, result.teams) == (0, ())
