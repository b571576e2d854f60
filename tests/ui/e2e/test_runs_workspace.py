"""The Runs page as a workspace, in headless Chromium on the demo's stack: names open runs,
readable headers and units, a per-column filter that lands in the URL, grouping, chart panels
with their x axis and scale, CSV and Parquet downloads, and a run started while the page is open
appearing and updating by itself.

Most tests filter out the demo's one run that never ends (``lgbm-v3-nightly`` is ``running``):
a page showing it redraws every second, and these tests want a page that stands still.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time
from urllib.parse import parse_qs, quote, urlsplit

import pandas as pd
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.ui.browser import exceptions, sign_in, wait_idle
from tests.ui.e2e.conftest import Portal

pytestmark = pytest.mark.e2e

PASSWORD = "cairn-demo"
ROW = 35  # the grid's header and row height
GRID = '[data-testid="stDataFrame"]'
STILL = "status != 'running'"
TEAMS = frozenset({"risk", "local"})


def _open(page: Page, portal: Portal, filter: str = STILL, **params: str) -> None:
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in {"filter": filter, **params}.items())
    sign_in(page, portal.url, "alice", PASSWORD, f"runs?{query}")


def _open_live(page: Page, portal: Portal, filter: str) -> None:
    """Sign in to a page that redraws by itself (it is never idle: no waiting for that)."""
    page.goto(f"{portal.url}/runs?filter={quote(filter, safe='')}")
    page.get_by_role("textbox", name="User").fill("alice")
    page.get_by_role("textbox", name="Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()


def _grid(page: Page, n: int = 0) -> Locator:
    return page.locator(GRID).nth(n)


def _headers(page: Page, n: int = 0) -> list[str]:
    """The grid's column headers (its accessible table mirrors the canvas)."""
    headers = _grid(page, n).locator('[role="columnheader"]')
    expect(headers.first).to_be_attached()
    return [h.inner_text().strip() for h in headers.all()]


def _cells(page: Page, n: int = 0) -> list[str]:
    cells = _grid(page, n).locator('[role="gridcell"]')
    expect(cells.first).to_be_attached()
    return [c.inner_text().strip() for c in cells.all()]


def _cell(page: Page, text: str, *, exact: bool = True) -> Locator:
    """A cell of the runs table holding ``text`` (the accessible table behind the canvas)."""
    cells = _grid(page).locator('[role="gridcell"]')
    return (
        cells.filter(has_text=text)
        if not exact
        else cells.filter(has_text=re.compile(f"^{re.escape(text)}$"))
    )


def _choose(page: Page, label: str, option: str) -> None:
    box = page.get_by_role("combobox", name=label, exact=True)
    box.click()
    page.get_by_role("option", name=option, exact=True).first.click()
    wait_idle(page)


def _click_row_marker(page: Page, row: int) -> None:
    _grid(page).scroll_into_view_if_needed()  # below the saved views, filters and panels
    box = _grid(page).bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 18, box["y"] + ROW * (row + 1) + ROW / 2)
    wait_idle(page)


def test_a_runs_name_is_a_link_that_opens_the_run(page: Page, portal: Portal) -> None:
    _open(page, portal, "name = 'xgb-lr0.1-d6'")
    expect(page.get_by_text("1 of 1 runs")).to_be_visible()
    run_id = portal.run_id("xgb-lr0.1-d6")
    assert any(c.endswith(f"run?id={run_id}#xgb-lr0.1-d6") for c in _cells(page))
    _grid(page).scroll_into_view_if_needed()
    box = _grid(page).bounding_box()
    assert box is not None
    x, y = box["x"] + 60, box["y"] + ROW + ROW / 2  # on the name in the first row
    page.mouse.click(x, y)  # the first click puts the grid's focus on the cell
    with page.context.expect_page() as opened:  # the grid opens links in a new tab
        page.mouse.click(x, y)
    run_page = opened.value
    run_page.wait_for_load_state()
    assert urlsplit(run_page.url).path.endswith("/run")
    assert parse_qs(urlsplit(run_page.url).query)["id"] == [run_id]
    heading = run_page.get_by_role("heading", name="xgb-lr0.1-d6")
    sign_in_button = run_page.get_by_role("button", name="Sign in", exact=True)
    heading.or_(sign_in_button).first.wait_for()
    if sign_in_button.count():  # a new tab is a new session unless sign-in is remembered
        run_page.get_by_role("textbox", name="User").fill("alice")
        run_page.get_by_role("textbox", name="Password", exact=True).fill(PASSWORD)
        run_page.get_by_role("button", name="Sign in", exact=True).click()
    expect(heading).to_be_visible()
    run_page.close()


def test_headers_are_readable_with_metric_and_param_columns_by_default(
    page: Page, portal: Portal
) -> None:
    _open(page, portal)
    headers = _headers(page)
    assert headers[:6] == ["name", "project", "owner", "status", "created", "duration"]
    # Metric and param keys most visible runs have (other tests of the session add runs with
    # keys of their own, so which ones is the store's to say), under their keys.
    keys = set(headers[6:])
    assert keys & {"val/auc", "val/loss", "train/loss", "lr", "val/acc"}  # metrics
    assert keys & {"learning_rate", "max_depth", "optimizer", "seed"}  # params
    assert not any(h.startswith(("metrics.", "params.")) for h in headers)
    cells = _cells(page)
    assert "None" not in cells
    assert any(c.endswith(" min") or c.endswith(" s") for c in cells)  # durations in words
    assert not exceptions(page)


def test_a_running_runs_duration_says_running(page: Page, portal: Portal) -> None:
    _open_live(page, portal, "name = 'lgbm-v3-nightly'")
    expect(page.get_by_text("1 of 1 runs", exact=True)).to_be_visible()
    expect(page.get_by_text("live, every 1 s")).to_be_visible()
    expect(_cell(page, "running for", exact=False).first).to_be_attached()
    assert "None" not in _cells(page)


def test_a_per_column_filter_narrows_the_rows_and_shows_in_the_url(
    page: Page, portal: Portal
) -> None:
    _open(page, portal)
    everything = portal.visible_runs("alice", TEAMS, STILL)
    expect(page.get_by_text(f"{everything} of {everything} runs")).to_be_visible()
    page.get_by_role("button", name="Filter a column").click()
    column = page.get_by_role("combobox", name="Column", exact=True)
    column.click()
    column.fill("max_depth")
    page.get_by_role("option", name="max_depth · param", exact=True).click()
    wait_idle(page)
    _choose(page, "Operator", ">=")
    page.get_by_role("textbox", name="Value").fill("8")
    page.get_by_role("button", name="Add to filter").click()
    wait_idle(page)
    expected = f"{STILL} and params.max_depth >= 8"
    narrowed = portal.visible_runs("alice", TEAMS, expected)
    assert 0 < narrowed < everything
    expect(page.get_by_text(f"{narrowed} of {narrowed} runs")).to_be_visible()
    expect(page.get_by_role("textbox", name="Filter")).to_have_value(expected)
    assert parse_qs(urlsplit(page.url).query)["filter"] == [expected]


def test_grouped_created_is_a_readable_date_range(page: Page, portal: Portal) -> None:
    _open(page, portal, group="params.max_depth")
    expect(page.get_by_role("heading", name="Grouped by max_depth")).to_be_visible()
    headers = _headers(page, 1)
    assert headers[:4] == ["max_depth", "runs", "created", "duration (mean)"]
    assert any(h.endswith(" mean") and h != "duration (mean)" for h in headers)
    assert not any(h.startswith(("metrics.", "params.")) for h in headers)
    cells = _cells(page, 1)
    created = [c for c in cells if c[:2] == "20" and len(c) >= 16]
    assert created, cells
    assert all(" to " in c or len(c) == 16 for c in created)  # 2026-12-01 14:03 [to ...]
    assert not any(c.isdigit() and len(c) > 12 for c in cells)  # no nanosecond integers


def test_chart_panels_draw_the_selected_runs_against_wall_time_and_another_metric(
    page: Page, portal: Portal
) -> None:
    _open(page, portal, "params.learning_rate = 0.1", ckeys="train/loss")
    panel = page.locator('[data-testid="stPlotlyChart"]')
    expect(panel).to_have_count(1)
    _click_row_marker(page, 0)
    _click_row_marker(page, 1)
    expect(page.get_by_text("Charts of 2 selected runs")).to_be_visible()
    lines = panel.locator(".legend .traces")  # one legend entry per run (bands have none)
    expect(lines).to_have_count(2)
    _choose(page, "X axis", "wall time")
    expect(panel.locator(".g-xtitle")).to_contain_text("time (")
    assert parse_qs(urlsplit(page.url).query)["cx"] == ["wall"]
    _choose(page, "X axis", "metric lr")
    expect(panel.locator(".g-xtitle")).to_have_text("lr")
    expect(lines).to_have_count(2)
    page.get_by_text("Log y").click()
    wait_idle(page)
    assert parse_qs(urlsplit(page.url).query)["clog"] == ["1"]
    assert parse_qs(urlsplit(page.url).query)["cx"] == ["metric:lr"]
    expect(lines).to_have_count(2)
    assert not exceptions(page)


def test_csv_and_parquet_downloads_hold_the_shown_rows(page: Page, portal: Portal) -> None:
    query = "params.learning_rate = 0.1"
    _open(page, portal, query, cols="name,status,metrics.val/auc")
    shown = portal.visible_runs("alice", TEAMS, query)
    expect(page.get_by_text(f"{shown} of {shown} runs")).to_be_visible()
    frames = {}
    for kind in ("CSV", "Parquet"):
        with page.expect_download() as download:
            page.get_by_role("button", name=kind, exact=True).click()
        assert download.value.suggested_filename.startswith("cairn-runs-")
        data = download.value.path().read_bytes()
        frames[kind] = (
            pd.read_csv(io.BytesIO(data)) if kind == "CSV" else pd.read_parquet(io.BytesIO(data))
        )
    for frame in frames.values():
        assert list(frame.columns) == ["run_id", "name", "status", "val/auc"]
        assert len(frame) == shown
        assert set(frame["name"]) >= {"xgb-lr0.1-d6"}
    assert list(frames["CSV"]["run_id"]) == list(frames["Parquet"]["run_id"])


# Starts a run, says its id, then logs one loss point per "log <step> <loss>" line it reads.
SCRIPT = """
import sys
import cairn

with cairn.init(name=sys.argv[1]) as run:
    print(run.id, flush=True)
    while (line := sys.stdin.readline().split()) and line[0] == "log":
        run.log({"loss": float(line[2])}, step=int(line[1]))
        run.flush()
        print("ok", flush=True)
"""


def test_a_run_started_while_the_page_is_open_appears_and_updates_by_itself(
    page: Page, portal: Portal
) -> None:
    assert portal.home is not None, "the stack's CAIRN_HOME (CAIRN_E2E_HOME)"
    assert portal.ingest_url, "the stack's ingest address (CAIRN_E2E_INGEST_URL)"
    project = f"ws-live-{int(time.time())}"
    _open(page, portal, f"project = '{project}'", cols="name,status,duration,metrics.loss")
    expect(page.get_by_text("0 of 0 runs")).to_be_visible()
    key = json.loads((portal.home / "demo-seed-keys.json").read_text())["risk"]
    env = {
        **os.environ,
        "CAIRN_API_KEY": key,
        "CAIRN_INGEST_URL": portal.ingest_url,
        "CAIRN_TEAM": "risk",
        "CAIRN_PROJECT": project,
        "CAIRN_DIR": str(portal.home / "ws-live"),
        "CAIRN_CAPTURE_OFF": "git,environment,packages,gpu,command,system_metrics",
    }
    with subprocess.Popen(
        [sys.executable, "-c", SCRIPT, "ws-live-run"], env=env, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    ) as training:  # fmt: skip
        assert training.stdin is not None
        assert training.stdout is not None
        try:
            assert training.stdout.readline().strip()
            training.stdin.write("log 1 0.5\n")
            training.stdin.flush()
            assert training.stdout.readline().strip() == "ok"
            # no click from here on: the page notices the new run, then its new values
            expect(page.get_by_text("1 of 1 runs", exact=True)).to_be_visible()
            expect(page.get_by_text("live, every 1 s")).to_be_visible()
            expect(_cell(page, "running for", exact=False).first).to_be_attached()
            expect(_cell(page, "0.5").first).to_be_attached()
            training.stdin.write("log 2 0.25\n")
            training.stdin.flush()
            assert training.stdout.readline().strip() == "ok"
            expect(_cell(page, "0.25").first).to_be_attached()
            training.stdin.write("end\n")
            training.stdin.close()
            assert training.wait(timeout=120) == 0
            expect(_cell(page, "finished").first).to_be_attached()
        finally:
            if training.poll() is None:
                training.kill()
                training.wait()
