"""Issue #18's smaller things, as a person sees them in Chromium: a project card's latest
comment without Markdown asterisks, the handover log naming runs, the Sharing page's chart
permalink reproducing the charts as set up on the Run page."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Page, expect

from tests.ui.browser import exceptions, open_from_sidebar, sign_in, wait_idle
from tests.ui.e2e.conftest import Portal

pytestmark = pytest.mark.e2e

PASSWORD = "cairn-demo"
GRID = '[data-testid="stDataFrame"]'


def _grid_text(page: Page, index: int) -> str:
    """The cells of a data grid (a canvas; Glide keeps an accessible table of it in the DOM)."""
    grid = page.locator(GRID).nth(index)
    grid.scroll_into_view_if_needed()
    return grid.locator("table").first.text_content() or ""


@pytest.mark.timeout(900)  # the first test of a session starts the demo stack
def test_a_project_cards_latest_comment_shows_its_words_not_markdown(
    page: Page, portal: Portal
) -> None:
    sign_in(page, portal.url, "alice", PASSWORD)
    wait_idle(page, timeout=120)
    # Dave's comment: "Scoring service p99 latency with v2: **12 ms** (v1: 9 ms). ..."
    excerpt = page.locator("em").filter(has_text="p99 latency with v2")
    expect(excerpt).to_have_text(re.compile(r"p99 latency with v2: 12 ms \(v1: 9 ms\)"))
    assert "*" not in excerpt.inner_text()
    assert not exceptions(page)


def test_the_handover_log_names_runs_with_their_id_beside(page: Page, portal: Portal) -> None:
    sign_in(page, portal.url, "alice", PASSWORD, "handover?team=risk")
    wait_idle(page, timeout=120)
    log = _grid_text(page, 2)
    run_id = portal.run_id("baseline-logreg")
    assert f"run baseline-logreg{run_id[:12]}" in log  # the name, then the id column
    assert f"run {run_id[:12]}" not in log
    assert not exceptions(page)


def test_the_sharing_pages_chart_link_is_the_chart_view_set_up_on_the_run_page(
    page: Page, portal: Portal
) -> None:
    run_id = portal.run_id("xgb-lr0.1-d6")
    sign_in(page, portal.url, "alice", PASSWORD, f"run?id={run_id}")
    wait_idle(page, timeout=120)
    page.get_by_test_id("stRadio").get_by_text("time", exact=True).click()
    wait_idle(page)
    page.get_by_text("Log scale").click()
    wait_idle(page)
    on_screen = parse_qs(urlparse(page.url).query)
    assert on_screen["x"] == ["time"]
    assert on_screen["log"] == ["1"]
    open_from_sidebar(page, "Sharing")
    wait_idle(page)
    box = page.get_by_role("textbox", name="A run")
    box.fill("xgb-lr0.1-d6")
    box.press("Enter")
    wait_idle(page)
    page.get_by_test_id("stSelectbox").first.click()
    page.get_by_role("option").filter(has_text=re.compile(r"^xgb-lr0\.1-d6 · ")).click()
    wait_idle(page)
    expect(page.get_by_text("Its charts, as you last set them up on its Run page:")).to_be_visible()
    chart_link = page.get_by_text(re.compile(r"/run\?.*tab=Charts")).inner_text()
    shared = parse_qs(urlparse(chart_link.strip()).query)
    assert shared["id"] == [run_id]
    for name in ("keys", "x", "log"):
        assert shared[name] == on_screen[name], name
    assert not exceptions(page)
