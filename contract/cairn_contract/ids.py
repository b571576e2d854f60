"""Identifiers: UUIDv7 event ids (time-ordered, so ids sort roughly by creation time).

Python 3.11's ``uuid`` has no v7 (3.14 adds it); this is RFC 9562's layout: 48 bits of Unix
milliseconds, version 7, 74 random bits.
"""

from __future__ import annotations

import os
import time
import uuid


def new_uuid7(now_ns: int | None = None) -> str:
    """A UUIDv7 in canonical lowercase text form (the ``Envelope.event_id`` format)."""
    millis = (time.time_ns() if now_ns is None else now_ns) // 1_000_000
    random = int.from_bytes(os.urandom(10), "big")
    rand_a = random >> 68  # 12 bits
    rand_b = random & ((1 << 62) - 1)  # 62 bits
    value = (millis & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    return str(uuid.UUID(int=value))
