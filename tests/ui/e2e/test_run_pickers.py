"""Every run picker finds a run older than 500 newer ones (issue #18: pickers listed only the
newest 200/500 runs, so with 2,100 runs the production run ``xgb-lr0.1-d6`` could not be found).

The module adds :data:`CROWD` runs to the session's demo store, all newer than the demo's, in a
team of their own (``crowd``) so that only the portal admin sees them and the other tests'
people see the store as before. The admin then types part of the demo run's name into the Run,
Compare and Sharing pickers and picks it.
"""

from __future__ import annotations

import asyncio
import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import Locator, Page, expect

from cairn.v1 import events_pb2, runs_pb2
from cairn_contract.errors import AuthenticationError, UnavailableError
from cairn_contract.ids import new_uuid7
from ingest.keys import issue_key_directly
from localstack.settings import recorded_stack
from query.access import Caller
from query.client import connect
from query.runs import count_runs, search_runs
from tests.builders import event
from tests.ui.browser import exceptions, sign_in, wait_idle
from tests.ui.e2e.conftest import Portal
from ui.ingest_writer import IngestWriter, KeyRing

pytestmark = pytest.mark.e2e

CROWD = 520
TARGET = "xgb-lr0.1-d6"
ADMIN = Caller("e2e", admin=True)


def _crowd_events() -> list[events_pb2.Event]:
    return [
        event("run_created", runs_pb2.RunCreated(name=f"crowd-{i:04d}", owner="admin"),
              run_id=new_uuid7(), sequence=1, team="crowd", project="bulk", actor="admin")
        for i in range(CROWD)
    ]  # fmt: skip


@pytest.fixture(scope="module")
def crowded(portal: Portal) -> Portal:
    """The portal's store with :data:`CROWD` runs newer than the demo's (added once)."""
    store = connect(portal.clickhouse_url)
    if count_runs(store, ADMIN, "team = 'crowd'") < CROWD:
        assert portal.home is not None, "the stack's CAIRN_HOME (CAIRN_E2E_HOME)"
        assert portal.ingest_url, "the stack's ingest address (CAIRN_E2E_INGEST_URL)"
        stack = recorded_stack(portal.home / "local-stack.json")
        bootstrap = f"{stack.get('host', '127.0.0.1')}:{stack['kafka_port']}"
        issue = issue_key_directly(bootstrap, team="crowd", role="admin", name="e2e-crowd")
        with ThreadPoolExecutor(1) as pool:  # Playwright's loop runs in this thread
            key = pool.submit(asyncio.run, issue).result()
        writer = IngestWriter(portal.ingest_url, KeyRing(configured={"crowd": key}), timeout_s=60)
        deadline = time.monotonic() + 60
        try:
            while True:  # ingest learns the new key from the identity topic
                try:
                    writer.append(_crowd_events())
                    break
                except (AuthenticationError, UnavailableError):
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)
        finally:
            writer.close()
        deadline = time.monotonic() + 120
        while count_runs(store, ADMIN, "team = 'crowd'") < CROWD:
            assert time.monotonic() < deadline, "the crowd runs were not projected in 120 s"
            time.sleep(0.5)
    return portal


def _older_than_the_old_cap(portal: Portal) -> None:
    """The target is not among the newest 500 runs: what the old pickers listed."""
    newest = search_runs(connect(portal.clickhouse_url), ADMIN, None, "created desc", limit=500,
                         columns=["name"])  # fmt: skip
    assert TARGET not in set(newest["name"])


def _search(page: Page, label: str, text: str) -> None:
    box = page.get_by_role("textbox", name=label)
    box.click()
    box.clear()
    box.press_sequentially(text, delay=40)  # as a person types; the search commits on a pause
    wait_idle(page)


def _option(page: Page, name: str) -> Locator:
    """The listed run called ``name`` (a label starts with the name: ``name · team/project``)."""
    return page.get_by_role("option").filter(has_text=re.compile(f"^{re.escape(name)} · "))


def _choose(page: Page, select: Locator, text: str) -> None:
    select.click()
    _option(page, text).first.click()
    page.keyboard.press("Escape")  # a multiselect's list stays open after a choice
    wait_idle(page)


@pytest.mark.timeout(900)  # the first test of a session starts the demo stack
def test_the_run_picker_finds_a_run_behind_five_hundred_newer_ones(
    page: Page, crowded: Portal
) -> None:
    _older_than_the_old_cap(crowded)
    sign_in(page, crowded.url, "admin", "cairn-demo", "run")
    wait_idle(page, timeout=120)
    _search(page, "Open a run", "lr0.1-d6")
    expect(page.get_by_text("1 matching run.")).to_be_visible()
    _choose(page, page.get_by_test_id("stSelectbox"), TARGET)
    expect(page.get_by_role("heading", name=TARGET)).to_be_visible()
    assert f"id={crowded.run_id(TARGET)}" in page.url
    assert not exceptions(page)


def test_the_compare_picker_finds_old_runs_among_many(page: Page, crowded: Portal) -> None:
    sign_in(page, crowded.url, "admin", "cairn-demo", "compare")
    wait_idle(page, timeout=120)
    every = count_runs(connect(crowded.clickhouse_url), ADMIN)
    expect(page.get_by_text(f"The 20 newest of {every} runs")).to_be_visible()
    picker = page.get_by_test_id("stMultiSelect")
    _search(page, "Runs to compare", "xgb-lr0.1-d")  # d4, d6, d8, d10
    _choose(page, picker, TARGET)
    # the chosen run stays while the next one is searched for
    _search(page, "Runs to compare", "crowd-0007")
    _choose(page, picker, "crowd-0007")
    expect(picker.get_by_text(TARGET)).to_be_visible()
    page.get_by_role("button", name="Compare", exact=True).click()
    wait_idle(page, timeout=120)
    assert crowded.run_id(TARGET) in page.url
    assert crowded.run_id("crowd-0007") in page.url
    assert not exceptions(page)


def test_the_sharing_pickers_find_an_old_run(page: Page, crowded: Portal) -> None:
    sign_in(page, crowded.url, "admin", "cairn-demo", "sharing")
    wait_idle(page, timeout=120)
    run_id = crowded.run_id(TARGET)
    _search(page, "A run", "XGB-LR0.1-D6")  # any case
    _choose(page, page.get_by_test_id("stSelectbox").first, TARGET)
    expect(page.get_by_text(f"/run?id={run_id}").first).to_be_visible()
    _search(page, "Runs", run_id[:10])  # by the start of its id
    runs_picker = page.get_by_test_id("stMultiSelect").nth(1)
    _choose(page, runs_picker, TARGET)
    expect(runs_picker.get_by_text(TARGET)).to_be_visible()
    assert not exceptions(page)
