"""Call-site checks: misuse fails in the training code's own frame, before anything is spooled.

The server validates every batch again (docs/events.md, "Limits"); these checks exist so a user
learns about a bad key or a string metric at the line that logged it rather than from a warning
about a rejected batch minutes later. They mirror the documented limits and formats, and raise
:class:`~cairn.errors.ValidationError` with the server's message shape:
``"<field>: <detail> (rule <rule>)"``.

Values the SDK captures by itself (argv, hostnames, tracebacks) are never the user's mistake, so
they go through :func:`clean_text`, which trims and replaces instead of raising.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import NoReturn

from cairn.errors import ValidationError

# The documented limits (string lengths in Unicode code points).
MAX_ID_CHARS = 128
MAX_SLUG_CHARS = 64
MAX_KEY_CHARS = 250
MAX_CONFIG_DEPTH = 10
MAX_NAME_CHARS = 256
MAX_TEXT_CHARS = 4_096
MAX_PARAM_VALUE_CHARS = 6_000
MAX_TAG_VALUE_CHARS = 5_000
MAX_URI_CHARS = 2_048
MAX_MARKDOWN_CHARS = 65_536
MAX_ITEMS_PER_LIST = 10_000
MAX_BINS_PER_HISTOGRAM = 512
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+\-]*")
_SLUG = re.compile(r"[a-z0-9][a-z0-9_\-]*")
_KEY = re.compile(r"[A-Za-z0-9_\-/:]+(?:\.[A-Za-z0-9_\-/:]+)*")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:\S+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def fail(field: str, rule: str, detail: str) -> NoReturn:
    raise ValidationError(f"{field}: {detail} (rule {rule})", field=field, rule=rule)


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
    bad = (_CONTROL_MULTILINE if multiline else _CONTROL).search(text)
    if bad is not None:
        fail(
            field,
            "no_control_characters",
            f"contains the control character U+{ord(bad.group()):04X}",
        )
    return text


def check_name(value: object, field: str) -> str:
    return check_text(value, field, MAX_NAME_CHARS, multiline=False)


def _pattern(
    value: object, field: str, limit: int, pattern: re.Pattern[str], rule: str, allowed: str
) -> str:
    text = _string(value, field)
    if not text:
        fail(field, "required", "must not be empty")
    _length(text, field, limit)
    if not pattern.fullmatch(text):
        fail(field, rule, f"{text[:80]!r} is not valid: use {allowed}")
    return text


def check_key(value: object, field: str) -> str:
    """A metric, param or tag key: dot-separated segments of letters, digits and ``_-/:``."""
    allowed = "dot-separated segments of letters, digits and _ - / :"
    return _pattern(value, field, MAX_KEY_CHARS, _KEY, "key_format", allowed)


def check_slug(value: object, field: str) -> str:
    """A team or project slug."""
    allowed = "lowercase letters, digits, _ and -, starting with a letter or digit"
    return _pattern(value, field, MAX_SLUG_CHARS, _SLUG, "slug_format", allowed)


def check_id(value: object, field: str) -> str:
    """A run, comment or other id."""
    allowed = "letters, digits and . _ : @ + -, starting with a letter or digit"
    return _pattern(value, field, MAX_ID_CHARS, _ID, "id_format", allowed)


def check_uri(value: object, field: str) -> str:
    allowed = "scheme:rest without whitespace, e.g. s3://bucket/key"
    return _pattern(value, field, MAX_URI_CHARS, _URI, "uri_format", allowed)


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
    text = (_CONTROL_MULTILINE if multiline else _CONTROL).sub("\ufffd", text)
    if len(text) > limit:
        text = "\u2026" + text[len(text) - limit + 1 :]
    return text
