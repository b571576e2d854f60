"""Saved views in Chromium against the real stack (docs/permissions.md, P9 and R19): alice saves
the Runs page's filter, columns and sort as a team view of `risk`; its link opens the same page
for bob (risk) in a fresh session, and tells carol (vision) it is not visible to her. A person's
default columns come back in a fresh session."""

from __future__ import annotations

import time
import uuid
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from query.access import Caller
from query.client import connect
from query.saved_views import user_default
from tests.ui.browser import exceptions, new_page, sign_in, wait_idle
from tests.ui.e2e.conftest import Portal
from ui.runs_columns import choice_label
from ui.saved_views import NOT_VISIBLE

pytestmark = pytest.mark.e2e

PASSWORD = "cairn-demo"
FILTER = "params.max_depth = 6 and status = 'finished'"
COLUMNS = "name,status,params.max_depth"
SORT = "name asc"
DAVES_TEAMS = frozenset({"vision", "risk", "local"})


def _state(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def _fresh(browser: Browser, portal: Portal, user: str, path: str) -> Page:
    page = new_page(browser)
    sign_in(page, portal.url, user, PASSWORD, path)
    return page


def _views(page: Page) -> Locator:
    """The "Views" selector (its chosen view is its value)."""
    return page.get_by_role("combobox", name="Views")


def _pick(page: Page, label: str, option: str) -> None:
    page.get_by_label(label).last.click()
    page.get_by_role("option", name=option, exact=True).click()


def test_a_saved_team_view_opens_by_link_for_a_teammate_and_not_for_another_team(
    browser: Browser, portal: Portal
) -> None:
    name = f"Depth six {uuid.uuid4().hex[:6]}"  # unique: a reused stack keeps earlier ones
    query = urlencode({"filter": FILTER, "cols": COLUMNS, "sort": SORT})
    alice = _fresh(browser, portal, "alice", f"runs?{query}")
    expect(alice.get_by_text("3 of 3 runs")).to_be_visible()
    alice.get_by_role("button", name="Save view").click()
    alice.get_by_role("textbox", name="Name").fill(name)
    alice.get_by_text("My team").click()
    _pick(alice, "Team", "risk")
    alice.get_by_role("button", name="Save", exact=True).click()
    wait_idle(alice)
    expect(_views(alice)).to_have_value(f"{name} (team, mine)")
    alice.get_by_role("button", name="Copy link").click()
    link = alice.locator('[data-testid="stCode"]').filter(has_text="view=").inner_text().strip()
    assert urlsplit(link).path.endswith("/runs")
    assert "view=" in link
    assert not exceptions(alice)
    alice.context.close()

    bob = _fresh(browser, portal, "bob", f"runs?{urlsplit(link).query}")
    expect(bob.get_by_text("3 of 3 runs")).to_be_visible()
    expect(bob.get_by_role("textbox", name="Filter")).to_have_value(FILTER)
    state = _state(bob.url)
    assert (state["filter"], state["cols"], state["sort"]) == ([FILTER], [COLUMNS], [SORT])
    columns = bob.locator('[data-testid="stMultiSelect"]').first
    for column in COLUMNS.split(","):
        expect(columns.get_by_text(choice_label(column), exact=True)).to_be_visible()
    expect(_views(bob)).to_have_value(f"{name} (team, alice)")
    assert not exceptions(bob)
    bob.context.close()

    carol = _fresh(browser, portal, "carol", f"runs?{urlsplit(link).query}")
    expect(carol.get_by_text(NOT_VISIBLE)).to_be_visible()
    expect(carol.get_by_role("textbox", name="Filter")).to_have_value("")
    assert not exceptions(carol)
    carol.context.close()


def test_default_columns_are_saved_per_person(browser: Browser, portal: Portal) -> None:
    # Finished runs only: a shown running run redraws the page every second (never idle).
    finished = urlencode({"filter": "status = 'finished'"})
    dave = _fresh(browser, portal, "dave", f"runs?{finished}&" + urlencode({"cols": COLUMNS}))
    dave.get_by_role("button", name="Save columns as my default").click()
    wait_idle(dave)
    assert not exceptions(dave)
    dave.context.close()
    store, dave_caller = connect(portal.clickhouse_url), Caller("dave", DAVES_TEAMS)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the toast is gone in 4 s: ask the store instead
        saved = user_default(store, dave_caller)
        if saved is not None and saved.params.get("cols") == COLUMNS:
            break
        time.sleep(0.3)
    else:
        raise AssertionError("dave's default columns were not saved")

    # A fresh session of dave's opens with exactly those columns (not the computed defaults,
    # which start with name, project, owner, status, created, duration); bob's does not.
    again = _fresh(browser, portal, "dave", f"runs?{finished}")
    chosen = again.locator('[data-testid="stMultiSelect"]').first
    expect(chosen).to_contain_text(choice_label("params.max_depth"))
    expect(chosen.get_by_text("duration", exact=True)).to_have_count(0)
    again.context.close()
    bob = _fresh(browser, portal, "bob", f"runs?{finished}")
    expect(
        bob.locator('[data-testid="stMultiSelect"]').first.get_by_text("duration", exact=True)
    ).to_be_visible()
    bob.context.close()
