"""Unit tests of domain.validation: each rule's exact error, and what valid input may contain."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from cairn.errors import ValidationError
from cairn.v1 import envelope_pb2, events_pb2, metrics_pb2
from cairn_contract import field_rules as _field_rules
from cairn_contract.limits import Limits
from domain.identity import AuthenticatedKey, Role
from domain.validation import BatchValidator
from domain.write_authorization import authorize_and_stamp, stamp_bytes
from tests.event_samples import TEAM, all_event_types, batch_of, metric_event, sample_event
from tests.validation_cases import CASES, LIMITS, Case


@pytest.fixture(scope="module")
def validator() -> BatchValidator:
    return BatchValidator(LIMITS)


def run(validator: BatchValidator, data: bytes) -> None:
    batch = validator.parse(data)
    validator.check(batch, now_ns=time.time_ns())
    validator.encode(batch)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_each_rule_rejects_with_field_rule_and_message(
    validator: BatchValidator, case: Case
) -> None:
    with pytest.raises(ValidationError) as caught:
        run(validator, case.data())
    assert (caught.value.field, caught.value.rule) == (case.field, case.rule)
    assert case.matches(str(caught.value)), str(caught.value)


@pytest.mark.parametrize("event_type", all_event_types())
def test_a_valid_event_of_every_type_is_accepted(
    validator: BatchValidator, event_type: str
) -> None:
    batch = batch_of(sample_event(event_type, sequence=3))
    summary = validator.check(batch, now_ns=time.time_ns())
    assert summary.event_types == (event_type,)
    assert summary.highest_sequence == 3
    assert len(validator.encode(batch)) == 1


def test_nan_and_infinities_are_accepted_and_kept_distinct(validator: BatchValidator) -> None:
    event = metric_event(points=4)
    event.metrics.series[0].values[:] = [math.nan, math.inf, -math.inf, -0.0]
    batch = batch_of(event)
    validator.check(batch, now_ns=time.time_ns())
    (encoded,) = validator.encode(batch)
    values = np.asarray(events_pb2.Event.FromString(encoded.data).metrics.series[0].values)
    assert np.isnan(values[0])
    assert values[1] == np.inf
    assert values[2] == -np.inf
    assert values[3] == 0.0
    assert np.signbit(values[3])


def test_summary_counts_points_and_highest_sequence(validator: BatchValidator) -> None:
    batch = batch_of(
        metric_event(points=7, keys=("a", "b"), sequence=1),
        metric_event(points=3, sequence=2),
        sample_event("run_renamed", sequence=9),
    )
    summary = validator.check(batch, now_ns=time.time_ns())
    assert (summary.events, summary.points, summary.highest_sequence) == (3, 17, 9)


def test_unsequenced_events_may_repeat_sequence_zero(validator: BatchValidator) -> None:
    batch = batch_of(sample_event("run_renamed"), sample_event("run_renamed"))
    assert validator.check(batch, now_ns=time.time_ns()).highest_sequence == 0


def test_sequences_are_per_aggregate(validator: BatchValidator) -> None:
    batch = batch_of(metric_event("a", sequence=2), metric_event("b", sequence=1))
    validator.check(batch, now_ns=time.time_ns())


def test_many_short_series_are_located_exactly(validator: BatchValidator) -> None:
    event = metric_event(keys=[f"m{i}" for i in range(60)], points=1)
    event.metrics.series[37].steps[0] = -1
    with pytest.raises(ValidationError) as caught:
        validator.check(batch_of(event), now_ns=time.time_ns())
    assert caught.value.field == "events[0].metrics.series[37].steps[0]"


def test_markdown_may_span_lines_and_hold_tabs(validator: BatchValidator) -> None:
    event = sample_event("comment_added")
    event.comment_added.body_markdown = "# Title\r\n\n\tcode\n"
    validator.check(batch_of(event), now_ns=time.time_ns())


def test_a_large_metric_batch_at_the_default_limits_is_accepted() -> None:
    validator = BatchValidator(Limits())
    event = metric_event(keys=[f"k{i}" for i in range(10)], points=10_000)
    summary = validator.check(batch_of(event), now_ns=time.time_ns())
    assert summary.points == 100_000


def test_every_string_field_of_the_contract_has_a_deliberate_rule() -> None:
    missing = []
    seen: set[str] = set()

    def visit(descriptor: object) -> None:
        full_name = descriptor.full_name  # type: ignore[attr-defined]
        if full_name in seen or not full_name.startswith("cairn.v1."):
            return
        seen.add(full_name)
        for fd in descriptor.fields:  # type: ignore[attr-defined]
            if fd.message_type is not None:
                visit(fd.message_type)
            elif (
                fd.type == fd.TYPE_STRING
                and full_name != "cairn.v1.Envelope"
                and fd.name not in _field_rules.STRING_RULES.get(full_name, {})
            ):
                missing.append(f"{full_name}.{fd.name}")

    visit(events_pb2.Event.DESCRIPTOR)
    assert missing == []


def test_required_and_rule_tables_name_real_fields() -> None:
    from google.protobuf import descriptor_pool

    pool = descriptor_pool.Default()
    for table in (_field_rules.STRING_RULES, _field_rules.REQUIRED):
        for message, fields in table.items():
            descriptor = pool.FindMessageTypeByName(message)
            names = set(descriptor.fields_by_name) | set(descriptor.oneofs_by_name)
            assert set(fields) <= names, message


def test_metric_series_values_are_doubles_on_the_wire() -> None:
    field = metrics_pb2.MetricSeries.DESCRIPTOR.fields_by_name["values"]
    assert field.type == field.TYPE_DOUBLE
    assert field.is_packed


ALICE_ADMIN = AuthenticatedKey("k-alice", TEAM, Role.ADMIN, envelope_pb2.ACTOR_KIND_USER, "alice")


@pytest.mark.parametrize("spoofed", [False, True], ids=["plain", "spoofed-actor"])
@pytest.mark.parametrize("event_type", all_event_types())
def test_ingest_stores_the_received_bytes_plus_the_stamp_which_read_as_the_stamped_event(
    validator: BatchValidator, event_type: str, spoofed: bool
) -> None:
    """Ingest keeps each event's bytes as received and appends the server's stamp (actor,
    received time); a reader sees exactly the stamped event, even where the client claimed
    another actor. Fails when authorize_and_stamp stamps a field that stamp_bytes leaves out."""
    event = sample_event(event_type, sequence=3)
    if spoofed:
        event.envelope.actor.kind = envelope_pb2.ACTOR_KIND_SERVICE
        event.envelope.actor.id = "mallory"
        event.envelope.actor.key_id = "k-mallory"
        event.envelope.received_at_ns = 1
    received = batch_of(event).SerializeToString()
    batch = validator.parse(received)
    validator.check(batch, now_ns=time.time_ns())
    authorize_and_stamp(batch, ALICE_ADMIN, now_ns=time.time_ns())
    (stored,) = validator.encode(batch, received=received, stamp=stamp_bytes)
    assert events_pb2.Event.FromString(stored.data) == batch.events[0]
    assert events_pb2.Event.FromString(stored.data).envelope.actor.id == "alice"
    kept = stored.data.startswith(event.SerializeToString())
    # Payloads ingest rewrites (an inbox read mark's user, a rule's sealed webhook secret) are
    # re-encoded: the bytes as sent would keep what was replaced.
    assert kept == (event_type not in ("inbox_items_read", "rule_created", "rule_changed"))


def test_events_are_re_encoded_when_the_received_bytes_do_not_split_into_them(
    validator: BatchValidator,
) -> None:
    batch = batch_of(sample_event("run_renamed", sequence=1))
    authorize_and_stamp(batch, ALICE_ADMIN, now_ns=time.time_ns())
    (stored,) = validator.encode(batch, received=b"\xff", stamp=stamp_bytes)
    assert stored.data == batch.events[0].SerializeToString()
