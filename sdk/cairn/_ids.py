"""Identifiers the SDK mints: event ids, run ids and comment ids.

All are UUIDv7 (RFC 9562) in canonical lowercase text: 48 bits of Unix milliseconds first, so ids
sort by creation time and an index on them stays append-mostly; 74 random bits make collisions
across machines negligible without coordination. Python 3.11's ``uuid`` module has no v7.
"""

from __future__ import annotations

import os
import time

_VERSION_7 = 0x7 << 76
_VARIANT_RFC = 0b10 << 62


def uuid7(now_ns: int | None = None) -> str:
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
