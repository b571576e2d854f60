"""The running portal for browser tests: a fresh local stack with the demo, and Chromium.

Set ``CAIRN_E2E_PORTAL_URL`` and ``CAIRN_E2E_CLICKHOUSE_URL`` to run the tests against a portal
that is already up (with the demo seeded) instead of starting a stack: handy while iterating
(``CAIRN_E2E_INGEST_URL`` and ``CAIRN_E2E_HOME``, the stack's ``CAIRN_HOME``, let tests that write
with the SDK reach it too).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from query.access import Caller
from query.client import connect
from query.runs import search_runs
from tests.ui.browser import chromium, new_page
from tests.ui.stack import demo_stack

# What the tests check is what shows, not how fast (the portal's speed is measured in
# `make bench-*`): on a loaded two-core machine one rerun after a write can take several seconds,
# so an assertion waits up to 30 s instead of Playwright's 5.
expect.set_options(timeout=30_000)


@dataclass(frozen=True)
class Portal:
    url: str
    clickhouse_url: str
    ingest_url: str = ""  # for tests that also write with the SDK
    home: Path | None = None  # the stack's CAIRN_HOME (the demo's keys files)

    def visible_runs(self, user_id: str, teams: frozenset[str], filter: str = "") -> int:
        """How many runs ``user_id`` of ``teams`` may see (and match ``filter``), from the store:
        earlier tests of the session add runs of their own to the demo's."""
        found = search_runs(
            connect(self.clickhouse_url),
            Caller(user_id, teams=teams),
            filter or None,
            columns=["run_id"],
            limit=10_000,
        )
        return len(found)

    def run_id(self, name: str) -> str:
        found = search_runs(
            connect(self.clickhouse_url),
            Caller("e2e", admin=True),
            f"name = '{name}'",
            columns=["run_id"],
        )
        return str(found["run_id"].iloc[0])


@pytest.fixture(scope="session")
def portal() -> Iterator[Portal]:
    """The portal of a local stack seeded with the demo."""
    url, store = os.environ.get("CAIRN_E2E_PORTAL_URL"), os.environ.get("CAIRN_E2E_CLICKHOUSE_URL")
    if url and store:
        home = os.environ.get("CAIRN_E2E_HOME")
        ingest = os.environ.get("CAIRN_E2E_INGEST_URL", "")
        yield Portal(url.rstrip("/"), store, ingest, Path(home) if home else None)
        return
    with demo_stack() as stack:
        ingest = f"127.0.0.1:{stack.env['CAIRN_INGEST_PORT']}"
        yield Portal(stack.portal_url, stack.clickhouse_url, ingest, stack.home)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Module-scoped on purpose: Playwright's sync API marks an event loop as running in the main
    thread while it is open, which would break every async test that runs after this module."""
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (a new portal session) per test."""
    opened = new_page(browser)
    yield opened
    opened.context.close()
