"""The SDK's call-site checks and the server's validation state the same rules.

The SDK cannot import ``domain`` (it is not shipped with it), so it keeps its own copy of the
limits and formats; these tests fail if the two ever drift apart, which would turn a clear error
at the call site into a rejected batch minutes later.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from cairn import _checks, _payloads
from cairn.errors import ValidationError
from cairn_contract import field_rules as rules
from cairn_contract.limits import Limits
from domain.validation import BatchValidator
from tests.event_samples import batch_of, sample_event


def test_the_limits_are_the_servers() -> None:
    limits = Limits()
    assert (
        limits.max_id_chars,
        limits.max_slug_chars,
        limits.max_key_chars,
        limits.max_config_depth,
        limits.max_name_chars,
        limits.max_text_chars,
        limits.max_param_value_chars,
        limits.max_tag_value_chars,
        limits.max_uri_chars,
        limits.max_markdown_chars,
        limits.max_items_per_list,
    ) == (
        _checks.MAX_ID_CHARS,
        _checks.MAX_SLUG_CHARS,
        _checks.MAX_KEY_CHARS,
        _checks.MAX_CONFIG_DEPTH,
        _checks.MAX_NAME_CHARS,
        _checks.MAX_TEXT_CHARS,
        _checks.MAX_PARAM_VALUE_CHARS,
        _checks.MAX_TAG_VALUE_CHARS,
        _checks.MAX_URI_CHARS,
        _checks.MAX_MARKDOWN_CHARS,
        _checks.MAX_ITEMS_PER_LIST,
    )


@pytest.mark.parametrize(
    ("check", "rule"),
    [
        (_checks.check_key, rules.KEY),
        (_checks.check_slug, rules.SLUG),
        (_checks.check_id, rules.ID),
        (_checks.check_uri, rules.URI),
    ],
)
@pytest.mark.parametrize(
    "value",
    [
        "loss",
        "train/loss",
        "a.b.c",
        "a..b",
        ".a",
        "a.",
        "Loss-1:x",
        "bad key",
        "ünïcode",
        "run-01a2@x+y",
        "_x",
        "s3://bucket/key",
        "file:///data/x y",
        "x" * 300,
        "churn",
    ],
)
def test_formats_accept_and_refuse_the_same_values(
    check: object, rule: rules.TextRule, value: str
) -> None:
    assert rule.pattern is not None
    limit = getattr(Limits(), rule.limit)
    server_accepts = bool(rule.pattern.fullmatch(value)) and len(value) <= limit
    try:
        check(value, "field")  # type: ignore[operator]
        sdk_accepts = True
    except ValidationError:
        sdk_accepts = False
    assert sdk_accepts == server_accepts


def test_the_histogram_limits_are_the_servers() -> None:
    assert Limits().max_bins_per_histogram == _checks.MAX_BINS_PER_HISTOGRAM


@pytest.mark.parametrize(
    ("edges", "counts"),
    [
        ([0.0, 1.0], [3.0]),
        ([-1.0, -0.5, 0.0, 2.0], [0.0, 2.5, 1e9]),
        ([], []),
        ([0.0], []),
        ([0.0, 1.0, 2.0], [1.0]),
        ([0.0, 1.0], [1.0, 2.0]),
        ([0.0, math.nan], [1.0]),
        ([-math.inf, 0.0], [1.0]),
        ([0.0, 1.0, 1.0], [1.0, 1.0]),
        ([2.0, 1.0], [1.0]),
        ([0.0, 1.0], [-0.5]),
        ([0.0, 1.0], [math.nan]),
        ([0.0, 1.0, 2.0], [1.0, math.inf]),
        ([float(i) for i in range(513)], [1.0] * 512),
        ([float(i) for i in range(514)], [1.0] * 513),
    ],
)
def test_histogram_bins_are_accepted_and_refused_alike_and_in_the_same_words(
    edges: list[float], counts: list[float]
) -> None:
    """The server's message for ``events[0].histograms.histograms[0].<field>`` is the SDK's for
    ``<field>``: same rule, same detail."""
    server = BatchValidator(Limits())
    event = sample_event("histograms")
    event.histograms.ClearField("histograms")
    event.histograms.histograms.add(key="w", step=0, edges=edges, counts=counts)
    prefix = "events[0].histograms.histograms[0]."
    try:
        server.check(batch_of(event), now_ns=time.time_ns())
        server_says = ""
    except ValidationError as exc:
        server_says = str(exc).removeprefix(prefix)
    try:
        _checks.check_bins(edges, counts)
        sdk_says = ""
    except ValidationError as exc:
        sdk_says = str(exc)
    assert sdk_says == server_says


def test_values_the_sdk_bins_are_accepted_by_the_server() -> None:
    rng = np.random.default_rng(3)
    server = BatchValidator(Limits())
    for values, bins in (
        (rng.normal(size=1000), 64),
        (np.full(10, 4.2), 8),  # one distinct value: numpy widens the range to a unit
        (np.array([1e-300, 2e-300]), 512),
        (np.array([-1e300, 1e300]), 3),
    ):
        batch, _ = _payloads.histogram_batch(
            "w", values, bins=bins, edges=None, counts=None, step=0, now_ns=time.time_ns()
        )
        event = sample_event("histograms")
        event.histograms.CopyFrom(batch)
        server.check(batch_of(event), now_ns=time.time_ns())
