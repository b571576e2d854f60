"""Property tests: whatever a client sends, validation answers with a ValidationError or accepts.

Random batches are built from valid samples overlaid with random field values generated from the
contract's descriptors (any type, any enum number, NaN, control characters, huge numbers), plus
plain random bytes. The only exception allowed out of parse/check/encode is ValidationError.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import numpy as np
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cairn.errors import ValidationError
from cairn.v1 import events_pb2
from cairn_contract.ids import new_uuid7
from domain.validation import BatchValidator
from tests.event_samples import all_event_types, batch_of, metric_event, sample_event
from tests.validation_cases import LIMITS

VALIDATOR = BatchValidator(LIMITS)
NOW = time.time_ns()

_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
}
_TEXT = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["", "a", "run-0001", "vision", "train/loss", "a..b", "A" * 300, "x\ny"]),
    st.builds(new_uuid7),
)


def _scalar(fd: FieldDescriptor) -> st.SearchStrategy[Any]:
    if fd.type == FieldDescriptor.TYPE_STRING:
        return _TEXT
    if fd.type == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if fd.type == FieldDescriptor.TYPE_DOUBLE:
        return st.floats(allow_nan=True, allow_infinity=True)
    if fd.type == FieldDescriptor.TYPE_ENUM:
        return st.integers(min_value=0, max_value=12)
    if fd.type == FieldDescriptor.TYPE_BYTES:  # e.g. a webhook rule's sealed secret
        return st.binary(max_size=64)
    low, high = _INT_RANGES[fd.type]
    edges = st.sampled_from([low, high, 0, -1 if low < 0 else 1, NOW, NOW + 10**15])
    return st.one_of(
        st.integers(min_value=low, max_value=high), edges.filter(lambda v: low <= v <= high)
    )


@st.composite
def random_message(draw: st.DrawFn, descriptor: Descriptor, depth: int = 0) -> dict[str, Any]:
    """Field values for a message of this type, as keyword arguments (sparse, nested)."""
    values: dict[str, Any] = {}
    used_oneofs: set[str] = set()
    for fd in descriptor.fields:
        oneof = fd.containing_oneof
        if oneof is not None and oneof.name in used_oneofs:
            continue
        if not draw(st.booleans()):
            continue
        if fd.message_type is not None:
            if depth >= 3 or fd.message_type.full_name.startswith("google."):
                continue
            item: st.SearchStrategy[Any] = random_message(fd.message_type, depth + 1)
        else:
            item = _scalar(fd)
        values[fd.name] = draw(st.lists(item, max_size=4) if fd.is_repeated else item)
        if oneof is not None:
            used_oneofs.add(oneof.name)
    return values


def _build(message: Message, values: dict[str, Any]) -> None:
    for name, value in values.items():
        fd = message.DESCRIPTOR.fields_by_name[name]
        if fd.type == FieldDescriptor.TYPE_MESSAGE:
            if fd.is_repeated:
                for item in value:
                    _build(getattr(message, name).add(), item)
            else:
                _build(getattr(message, name), value)
        elif fd.is_repeated:
            getattr(message, name).extend(value)
        else:
            setattr(message, name, value)


@st.composite
def noisy_batches(draw: st.DrawFn) -> events_pb2.EventBatch:
    events = []
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        event_type = draw(st.sampled_from(all_event_types()))
        event = sample_event(event_type, sequence=draw(st.integers(0, 3)))
        noise = events_pb2.Event()
        payload_descriptor = getattr(noise, event_type).DESCRIPTOR
        _build(getattr(noise, event_type), draw(random_message(payload_descriptor)))
        if draw(st.booleans()):
            _build(noise.envelope, draw(random_message(noise.envelope.DESCRIPTOR)))
        event.MergeFrom(noise)
        events.append(event)
    return batch_of(*events)


def _validate(data: bytes) -> None:
    batch = VALIDATOR.parse(data)
    VALIDATOR.check(batch, now_ns=NOW)
    VALIDATOR.encode(batch)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(noisy_batches())
def test_random_batches_raise_nothing_but_validation_errors(batch: events_pb2.EventBatch) -> None:
    try:
        _validate(batch.SerializeToString())
    except ValidationError as exc:
        error = exc
    else:
        return
    assert str(error).endswith(f"(rule {error.rule})")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_raise_nothing_but_validation_errors(data: bytes) -> None:
    with contextlib.suppress(ValidationError):
        _validate(data)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=40),
        min_size=1,
        max_size=8,
    ),
    st.integers(min_value=0, max_value=2**62),
)
def test_valid_metric_batches_are_accepted_bit_for_bit(
    series: list[list[float]], first_step: int
) -> None:
    event = metric_event(keys=[f"m{i}" for i in range(len(series))], points=1)
    event.metrics.ClearField("series")
    for index, values in enumerate(series):
        event.metrics.series.add(
            key=f"m{index}",
            steps=range(first_step, first_step + len(values)),
            values=values,
            timestamps_ns=[NOW] * len(values),
        )
    batch = batch_of(event)
    assert VALIDATOR.check(batch, now_ns=NOW).points == sum(map(len, series))
    (encoded,) = VALIDATOR.encode(batch)
    decoded = events_pb2.Event.FromString(encoded.data).metrics.series
    for sent, received in zip(series, decoded, strict=True):
        sent_bits = np.asarray(sent, dtype=np.float64).view(np.uint64)
        assert np.array_equal(sent_bits, np.asarray(received.values).view(np.uint64))
