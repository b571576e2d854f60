"""Issue #18's smaller things, as a person sees them in Chromium: a project card's latest
comment without Markdown asterisks, the handover log naming runs, the Sharing page's chart
permalink reproducing the charts as set up on the Run page."""

from __future__ import annotations

import re
import time
import uuid
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
    # Dave comments on a churn run in Markdown; it becomes the churn card's latest comment.
    marker = f"card-{uuid.uuid4().hex[:8]}"
    dave = page.context.browser.new_context().new_page()  # type: ignore[union-attr]
    run_id = portal.run_id("xgb-lr0.3-d4")
    sign_in(dave, portal.url, "dave", PASSWORD, f"run?id={run_id}&tab=Discussion")
    dave.get_by_role("textbox", name="Add a comment").fill(
        f"Scoring p99 with v2: **12 ms** (v1: _9 ms_) {marker}"
    )
    dave.get_by_role("button", name="Post comment").click()
    dave.locator(".cairn-comment", has_text=marker).wait_for()
    dave.context.close()
    excerpt = page.locator("em").filter(has_text=marker)
    deadline = time.monotonic() + 60
    while True:  # the card shows what the store has projected (cached briefly)
        sign_in(page, portal.url, "alice", PASSWORD)
        wait_idle(page, timeout=120)
        if excerpt.count():
            break
        assert time.monotonic() < deadline, "the comment did not reach the project card"
        time.sleep(2)
    expect(excerpt).to_have_text(re.compile(rf"Scoring p99 with v2: 12 ms \(v1: 9 ms\) {marker}"))
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


def test_the_sweep_list_fits_the_page(page: Page, portal: Portal) -> None:
    sign_in(page, portal.url, "alice", PASSWORD, "sweep")
    wait_idle(page, timeout=120)
    grid = page.locator(GRID).first
    expect(grid).to_be_visible()
    widths = grid.evaluate(
        "e => { const s = e.querySelector('.dvn-scroller'); return [s.scrollWidth, s.clientWidth] }"
    )
    assert widths[0] <= widths[1], f"the list is {widths[0]} px wide in {widths[1]} px"
    assert "xgb-sweep-01" in _grid_text(page, 0)
    assert not exceptions(page)


def _boxes(page: Page, selector: str) -> list[dict[str, float]]:
    found = (element.bounding_box() for element in page.locator(selector).all())
    return [box for box in found if box and box["width"] > 0]


def _overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"]
    )  # fmt: skip


def test_lineage_both_ways_at_depth_three_draws_labels_apart(page: Page, portal: Portal) -> None:
    sign_in(page, portal.url, "alice", PASSWORD, "lineage?dir=both&depth=3")
    wait_idle(page, timeout=120)
    expect(page.get_by_text("nodes,", exact=False).first).to_be_visible()
    page.locator(".scatterlayer .point").first.wait_for()
    # a node's label: plotly's text next to points, or a text annotation (arrows have none)
    labels = [
        b for b in _boxes(page, ".textpoint text") + _boxes(page, "g.annotation-text-g text")
        if b["height"] > 0
    ]  # fmt: skip
    markers = _boxes(page, ".scatterlayer .point")
    assert len(labels) == len(markers) >= 15  # the demo's model, its data, runs and sweep

    def centre(b: dict[str, float]) -> tuple[float, float]:
        return b["x"] + b["width"] / 2, b["y"] + b["height"] / 2

    def distance(a: dict[str, float], b: dict[str, float]) -> float:
        (ax, ay), (bx, by) = centre(a), centre(b)
        return float(((ax - bx) ** 2 + (ay - by) ** 2) ** 0.5)

    for i, one in enumerate(labels):
        assert not [o for o in labels[i + 1 :] if _overlap(one, o)], "two labels overlap"
        own = min(markers, key=lambda m: distance(one, m))
        assert not [m for m in markers if m is not own and _overlap(one, m)], (
            "a label covers another node"
        )
    assert not exceptions(page)


def test_a_decision_names_the_runs_it_is_about(page: Page, portal: Portal) -> None:
    sign_in(page, portal.url, "alice", PASSWORD, "discussion?project=risk/churn")
    wait_idle(page, timeout=120)
    page.get_by_role("tab", name="Decisions").click()
    wait_idle(page)
    link = page.get_by_role("link", name="run xgb-lr0.1-d6", exact=True)
    expect(link).to_be_visible()
    assert f"id={portal.run_id('xgb-lr0.1-d6')}" in (link.get_attribute("href") or "")
    expect(page.get_by_role("link", name="run baseline-logreg", exact=True)).to_be_visible()
    assert not exceptions(page)
