"""Call-site checks: misuse fails in the training code's own frame, before anything is spooled.

The server validates every batch again (docs/events.md, "Limits"); these checks exist so a user
learns about a bad key or a string metric at the line that logged it rather than from a warning
about a rejected batch minutes later. The limits and formats are the contract's own
(``cairn_contract.limits`` and ``cairn_contract.field_rules``, which the server validates with),
and errors are :class:`~cairn.errors.ValidationError` with the server's message shape:
``"<field>: <detail> (rule <rule>)"``.

Values the SDK captures by itself (argv, hostnames, tracebacks) are never the user's mistake, so
they go through :func:`clean_text`, which trims and replaces instead of raising.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NoReturn

from cairn_contract import field_rules as rules
from cairn_contract.limits import Limits

# The documented limits (string lengths in Unicode code points): the contract's defaults.
_LIMITS = Limits()
MAX_ID_CHARS = _LIMITS.max_id_chars
MAX_SLUG_CHARS = _LIMITS.max_slug_chars
MAX_KEY_CHARS = _LIMITS.max_key_chars
MAX_CONFIG_DEPTH = _LIMITS.max_config_depth
MAX_NAME_CHARS = _LIMITS.max_name_chars
MAX_TEXT_CHARS = _LIMITS.max_text_chars
MAX_PARAM_VALUE_CHARS = _LIMITS.max_param_value_chars
MAX_TAG_VALUE_CHARS = _LIMITS.max_tag_value_chars
MAX_URI_CHARS = _LIMITS.max_uri_chars
MAX_MARKDOWN_CHARS = _LIMITS.max_markdown_chars
MAX_ITEMS_PER_LIST = _LIMITS.max_items_per_list
MAX_BINS_PER_HISTOGRAM = _LIMITS.max_bins_per_histogram
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def fail(field: str, rule: str, detail: str) -> NoReturn:
    """The server's error shape (``cairn_contract.field_rules.fail``); an SDK field is never
    empty, so the message always starts with it."""
    rules.fail(field, rule, detail)


def _string(value: object, field: str) -> str:
    if not isinstance(value, str):
        fail(field, "type", f"must be a string, got {type(value).__name__}")
    return value


def _length(value: str, field: str, limit: int) -> None:
    if len(value) > limit:
        fail(field, "max_length", f"{len(value)} characters, at most {limit} allowed")


def check_text(value: object, field: str, limit: int, *, multiline: bool = True) -> str:
    """A user-given free text: length and no control characters (tab/newline if multiline)."""
    text = _string(value, field)
    _length(text, field, limit)
    bad = (rules.CONTROL_MULTILINE if multiline else rules.CONTROL).search(text)
    if bad is not None:
        fail(
            field,
            "no_control_characters",
            f"contains the control character U+{ord(bad.group()):04X}",
        )
    return text


def check_name(value: object, field: str) -> str:
    return check_text(value, field, MAX_NAME_CHARS, multiline=False)


def _pattern(value: object, field: str, limit: int, rule: rules.TextRule) -> str:
    text = _string(value, field)
    if not text:
        fail(field, "required", "must not be empty")
    _length(text, field, limit)
    assert rule.pattern is not None  # the caller passes a rule with a format
    if not rule.pattern.fullmatch(text):
        fail(field, rule.format_rule, f"{text[:80]!r} is not valid: use {rule.describe}")
    return text


def check_key(value: object, field: str) -> str:
    """A metric, param or tag key: dot-separated segments of letters, digits and ``_-/:``."""
    return _pattern(value, field, MAX_KEY_CHARS, rules.KEY)


def check_slug(value: object, field: str) -> str:
    """A team or project slug."""
    return _pattern(value, field, MAX_SLUG_CHARS, rules.SLUG)


def check_id(value: object, field: str) -> str:
    """A run, comment or other id."""
    return _pattern(value, field, MAX_ID_CHARS, rules.ID)


def check_uri(value: object, field: str) -> str:
    return _pattern(value, field, MAX_URI_CHARS, rules.URI)


def check_step(step: object, field: str = "step") -> int:
    """A metric step: a non-negative integer (``bool`` is not a step)."""
    if isinstance(step, bool) or not hasattr(type(step), "__index__"):
        fail(field, "type", f"must be an integer, got {type(step).__name__}")
    value = step.__index__()  # type: ignore[attr-defined]
    if value < 0:
        fail(field, "non_negative_step", f"step must be >= 0, got {value}")
    if value > INT64_MAX:
        fail(field, "int64_range", f"{value} does not fit in 64 bits")
    return int(value)


def check_bins(edges: Sequence[float], counts: Sequence[float]) -> None:
    """A histogram's bins, by the server's rules and in its words: 1 to 512 counts, each finite
    and >= 0, and one more edge than counts, finite and strictly increasing."""
    if not counts:
        fail("counts", "required", "is required (no bins)")
    if len(counts) > MAX_BINS_PER_HISTOGRAM:
        detail = f"{len(counts)} bins, at most {MAX_BINS_PER_HISTOGRAM} allowed"
        fail("counts", "max_bins_per_histogram", detail)
    if len(edges) != len(counts) + 1:
        fail(
            "edges",
            "bin_edges",
            f"has {len(edges)} items but counts has {len(counts)}: "
            "a histogram has one more edge than counts",
        )
    for k, edge in enumerate(edges):
        if not math.isfinite(edge):
            fail(f"edges[{k}]", "finite_edges", f"edges must be finite, got {edge!r}")
    for k in range(1, len(edges)):
        if not edges[k] > edges[k - 1]:
            detail = f"{edges[k]!r} does not follow {edges[k - 1]!r}: edges must increase strictly"
            fail(f"edges[{k}]", "increasing_edges", detail)
    for k, count in enumerate(counts):
        if not (math.isfinite(count) and count >= 0):
            detail = f"counts must be finite and >= 0, got {count!r}"
            fail(f"counts[{k}]", "non_negative_count", detail)


def to_metric_value(value: object, field: str) -> float:
    """A metric value as a float: numbers, numpy scalars and one-element tensors convert; NaN and
    ±inf are valid values. Strings, None, containers and multi-element arrays are misuse."""
    if isinstance(value, str | bytes | bytearray) or value is None:
        fail(field, "numeric_value", f"must be a number, got {type(value).__name__} {value!r:.40}")
    if not hasattr(type(value), "__float__"):
        fail(field, "numeric_value", f"must be a number, got {type(value).__name__}")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, RuntimeError, OverflowError) as exc:
        shape = getattr(value, "shape", None)
        what = (
            f"{type(value).__name__} of shape {tuple(shape)}"
            if shape is not None
            else repr(value)[:40]
        )
        fail(field, "numeric_value", f"must be a single number, got {what} ({exc})")
    return number


def clean_text(value: object, limit: int, *, multiline: bool = True) -> str:
    """Captured text made acceptable: control characters replaced by U+FFFD, cut to ``limit``
    keeping the end (the end of a traceback or a long argv item is the informative part)."""
    text = value if isinstance(value, str) else str(value)
    text = (rules.CONTROL_MULTILINE if multiline else rules.CONTROL).sub("\ufffd", text)
    if len(text) > limit:
        text = "\u2026" + text[len(text) - limit + 1 :]
    return text
