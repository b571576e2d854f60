"""Identifiers: UUIDv7 (RFC 9562), the id of every event, run and comment.

48 bits of Unix milliseconds first, so ids sort by creation time and an index on them stays
append-mostly; version 7; 74 random bits make collisions across machines negligible without
coordination. Text is the canonical lowercase form (the ``Envelope.event_id`` format, which
ingest requires: :data:`UUID7_PATTERN`). Python 3.11's ``uuid`` has no v7 (3.14 adds it).
"""

from __future__ import annotations

import os
import re
import time

UUID7_PATTERN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")

_VERSION_7 = 0x7 << 76
_VARIANT_RFC = 0b10 << 62


def new_uuid7(now_ns: int | None = None) -> str:
    """A UUIDv7 in canonical lowercase text; ``now_ns`` (Unix nanoseconds) defaults to now."""
    millis = (time.time_ns() if now_ns is None else now_ns) // 1_000_000
    random = int.from_bytes(os.urandom(10), "big")
    value = (
        (millis & 0xFFFF_FFFF_FFFF) << 80
        | _VERSION_7
        | (random >> 68) << 64  # rand_a: 12 bits
        | _VARIANT_RFC
        | random & ((1 << 62) - 1)  # rand_b: 62 bits
    )
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
