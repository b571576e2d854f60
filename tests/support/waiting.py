"""Waiting for a projection to show what a test wrote (the pipeline is asynchronous)."""

from __future__ import annotations

import time
from typing import Any

from tests.pipeline import Pipeline


def eventually(store: Pipeline, sql: str, expected: Any, **parameters: Any) -> None:
    """Poll ``sql`` on the pipeline's store until its rows equal ``expected`` (60 s at most)."""
    deadline = time.monotonic() + 60
    rows: list[tuple[Any, ...]] = []
    while time.monotonic() < deadline:
        rows = store.rows(sql, **parameters)
        if rows == expected:
            return
        time.sleep(0.3)
    raise AssertionError(f"{sql!r}: {rows!r}, expected {expected!r}")
