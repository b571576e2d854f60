"""The Compare page at scale, in headless Chromium on the demo's stack: twenty runs logged with the
SDK (as a user does) have a legend of twenty entries in twenty colours on every chart, a grouped
mean with its band, a categorical ``optimizer`` axis in parallel coordinates and "no environment
recorded"; the demo's sweep trials show the N-way environment and code matrix with what differs
from the baseline highlighted; a link naming another team's run shows the others and "1 run not
visible to you"; a run still training refreshes on the page without a click."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from query.access import Caller
from query.client import connect
from query.runs import search_runs
from tests.ui.browser import exceptions, sign_in, wait_idle
from tests.ui.e2e.conftest import Portal

pytestmark = pytest.mark.e2e

PASSWORD = "cairn-demo"
PROJECT = "compare-e2e"
RUNS = 20
CHART = '[data-testid="stPlotlyChart"]'
# Twenty short runs in one process: lr and seed differ, optimizer is a string param (adam/sgd),
# no environment or code is captured (the "no environment recorded" case).
SCRIPT = """
import math, sys
import cairn

for i in range(int(sys.argv[1])):
    optimizer = "adam" if i % 2 == 0 else "sgd"
    config = {"lr": 0.001 * (i + 1), "optimizer": optimizer, "seed": i}
    with cairn.init(name=f"cmp-{i:02d}", config=config) as run:
        for step in range(30):
            loss = (2.0 if optimizer == "sgd" else 1.0) * math.exp(-0.1 * step) + 0.01 * i
            run.log({"train/loss": loss, "val/acc": 1 - loss / 3}, step=step)
        print(run.id)
"""
# A run that is still training while the page is open: a point every 0.2 s for a minute.
LIVE_SCRIPT = """
import sys, time
import cairn

with cairn.init(name="cmp-live", config={"lr": 0.5, "optimizer": "adam", "seed": 99}) as run:
    print(run.id, flush=True)
    for step in range(300):
        run.log({"val/acc": float(step)}, step=step)
        time.sleep(0.2)
"""


def _sdk_env(portal: Portal) -> dict[str, str]:
    assert portal.home is not None, "the stack's CAIRN_HOME (CAIRN_E2E_HOME)"
    assert portal.ingest_url, "the stack's ingest address (CAIRN_E2E_INGEST_URL)"
    key = json.loads((portal.home / "demo-seed-keys.json").read_text())["risk"]
    return {
        **os.environ,
        "CAIRN_API_KEY": key,
        "CAIRN_INGEST_URL": portal.ingest_url,
        "CAIRN_TEAM": "risk",
        "CAIRN_PROJECT": PROJECT,
        "CAIRN_DIR": str(portal.home / "e2e-compare"),
        "CAIRN_CAPTURE_OFF": "git,environment,packages,gpu,command,system_metrics",
    }


def _projected(portal: Portal, filter: str, count: int, what: str) -> list[str]:
    store, admin = connect(portal.clickhouse_url), Caller("e2e", admin=True)
    deadline = time.monotonic() + 120
    while True:
        found = search_runs(store, admin, filter, "name asc", columns=["run_id", "name"])
        if len(found) >= count:
            return [str(r) for r in found["run_id"]]
        assert time.monotonic() < deadline, f"{what} were not projected within 120 s"
        time.sleep(1)


@pytest.fixture(scope="module")
def twenty(portal: Portal) -> list[str]:
    """Twenty finished runs of project compare-e2e (team risk), in name order."""
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(RUNS)],
        env=_sdk_env(portal), capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    run_ids = done.stdout.split()
    assert len(run_ids) == RUNS
    quoted = ", ".join(f"'{r}'" for r in run_ids)
    _projected(portal, f"run_id in ({quoted}) and metrics.val/acc >= 0", RUNS, "the twenty runs")
    return run_ids


def _compare(page: Page, portal: Portal, query: str, user: str = "alice") -> None:
    sign_in(page, portal.url, user, PASSWORD, f"compare?{query}")
    expect(page.get_by_role("heading", name="Compare")).to_be_visible()
    wait_idle(page)


def _legend_colours(page: Page, chart: int = 0) -> list[str]:
    """The stroke colour of each legend entry of the ``chart``-th chart, in order."""
    legend = page.locator(CHART).nth(chart).locator(".legend .traces")
    return [
        str(entry.locator(".legendlines path").first.evaluate("e => getComputedStyle(e).stroke"))
        for entry in legend.all()
    ]


@pytest.mark.timeout(900)  # the first test of a session starts the demo stack
def test_twenty_runs_have_a_legend_of_twenty_distinct_colours_on_every_chart(
    page: Page, portal: Portal, twenty: list[str]
) -> None:
    _compare(page, portal, "runs=" + ",".join(twenty))
    expect(page.get_by_text(f"{RUNS} runs", exact=True)).to_be_visible()
    charts = page.locator(CHART)
    expect(charts).to_have_count(2)  # both metric keys charted without choosing them
    for chart in range(2):
        legend = charts.nth(chart).locator(".legend .traces")
        expect(legend).to_have_count(RUNS)
        colours = _legend_colours(page, chart)
        assert len(set(colours)) == RUNS, colours
    assert _legend_colours(page, 0) == _legend_colours(page, 1)  # a run's colour on every chart
    # Clicking a legend entry hides that run's line.
    first = charts.first
    expect(first.locator(".scatterlayer .trace")).to_have_count(RUNS)
    first.locator(".legend .traces").first.click()
    expect(first.locator(".legend .traces").first).to_have_css("opacity", "0.5")
    expect(page.get_by_text("Last values")).to_be_visible()
    expect(page.get_by_text("No environment recorded", exact=False)).to_be_visible()
    assert exceptions(page) == []


def test_runs_grouped_by_optimizer_show_each_groups_mean_and_band(
    page: Page, portal: Portal, twenty: list[str]
) -> None:
    _compare(page, portal, "runs=" + ",".join(twenty) + "&keys=train/loss")
    box = page.get_by_role("combobox", name="Group runs by")
    box.click()
    page.get_by_role("option", name="params.optimizer").click()
    wait_idle(page)
    chart = page.locator(CHART).first
    expect(chart.locator(".gtitle")).to_have_text(re.compile("train/loss · mean and min-max"))
    legend = chart.locator(".legend .traces")
    expect(legend).to_have_count(2)
    expect(legend.nth(0)).to_have_text("adam (10 runs)")
    expect(legend.nth(1)).to_have_text("sgd (10 runs)")
    # Each group: a filled band (its area) under the mean line.
    expect(chart.locator(".scatterlayer .trace .fills path")).to_have_count(2)
    page.get_by_text("mean ± std").click()
    wait_idle(page)
    expect(chart.locator(".gtitle")).to_have_text(re.compile("mean and ± std"))
    assert "group=params.optimizer" in page.url
    assert "band=std" in page.url


def test_parallel_coordinates_have_a_categorical_optimizer_axis(
    page: Page, portal: Portal, twenty: list[str]
) -> None:
    _compare(page, portal, "runs=" + ",".join(twenty) + "&tab=Parallel+coordinates")
    chart = page.locator(CHART).first
    expect(chart.locator(".axis-title", has_text="params.optimizer")).to_have_count(1)
    axis = page.locator(".axis-title", has_text="params.optimizer")
    ticks = chart.locator(".y-axis", has=axis).locator(".tick text")
    expect(ticks).to_have_text(["adam", "sgd"])
    expect(chart.locator(".axis-title", has_text="params.lr")).to_have_count(1)


def test_the_environment_matrix_highlights_what_differs_from_the_baseline(
    page: Page, portal: Portal
) -> None:
    names = ("xgb-lr0.03-d4", "xgb-lr0.03-d8", "xgb-lr0.1-d4", "xgb-lr0.3-d6")
    runs = ",".join(portal.run_id(n) for n in names)
    _compare(page, portal, f"runs={runs}&tab=Environment")
    table = page.locator('[data-testid="stTable"]')
    expect(table).to_be_visible()
    expect(page.get_by_text("1 of 3 runs differ from the baseline")).to_be_visible()
    expect(table.locator("th", has_text="package: xgboost")).to_be_visible()
    changed = table.locator("tr", has_text="xgb-lr0.03-d8").locator("td", has_text="2.1.0")
    expect(changed).to_have_css("background-color", "rgb(253, 226, 167)")
    same = table.locator("tr", has_text="xgb-lr0.1-d4").locator("td", has_text="2.0.3")
    expect(same).not_to_have_css("background-color", "rgb(253, 226, 167)")
    # The code: lr 0.1 ran with an uncommitted patch; choosing it as the baseline flips the marks.
    page.get_by_text("Code", exact=True).click()
    wait_idle(page)
    table = page.locator('[data-testid="stTable"]')
    expect(table.locator("th", has_text="dirty")).to_be_visible()
    dirty = table.locator("tr", has_text="xgb-lr0.1-d4").locator("td", has_text="yes")
    expect(dirty).to_have_css("background-color", "rgb(253, 226, 167)")
    box = page.get_by_role("combobox", name="Baseline")
    box.click()
    page.get_by_role("option", name="xgb-lr0.1-d4").click()
    wait_idle(page)
    expect(page.get_by_text("3 of 3 runs differ from the baseline")).to_be_visible()
    dirty = page.locator('[data-testid="stTable"] tr', has_text="xgb-lr0.1-d4").locator(
        "td", has_text="yes"
    )
    expect(dirty).not_to_have_css("background-color", "rgb(253, 226, 167)")
    assert exceptions(page) == []


def test_a_link_with_a_run_not_visible_shows_the_others(page: Page, portal: Portal) -> None:
    visible = [portal.run_id(n) for n in ("xgb-lr0.1-d6", "xgb-lr0.3-d6")]
    hidden = portal.run_id("effnet-b3")  # team vision: not Alice's
    _compare(page, portal, "runs=" + ",".join([visible[0], hidden, visible[1]]))
    expect(page.get_by_text("1 run not visible to you")).to_be_visible()
    expect(page.get_by_text("2 runs", exact=True)).to_be_visible()
    expect(page.locator(CHART).first.locator(".legend .traces")).to_have_count(2)
    assert "effnet" not in page.content()
    assert exceptions(page) == []


@pytest.fixture
def live_run(portal: Portal) -> Iterator[str]:
    """A run of project compare-e2e that logs a point every 0.2 s while the test runs."""
    process = subprocess.Popen(
        [sys.executable, "-c", LIVE_SCRIPT], env=_sdk_env(portal),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        run_id = process.stdout.readline().strip()
        assert run_id, process.stderr.read() if process.stderr else ""
        _projected(portal, f"run_id = '{run_id}' and metrics.val/acc >= 5", 1, "the live run")
        yield run_id
    finally:
        process.kill()
        process.wait(timeout=30)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


# The live run's last val/acc on the first chart (val/acc = step): the x of its last point.
LAST_ACC = (
    "() => { const e = document.querySelector('[data-testid=stPlotlyChart] .js-plotly-plot');"
    " const d = e ? (e._fullData || []).filter(t => t.name === 'cmp-live') : [];"
    " return d.length ? Math.max(...d.map(t => Number(t.x[t.x.length - 1]))) : -1; }"
)


def test_a_running_run_refreshes_on_the_page_without_a_click(
    page: Page, portal: Portal, twenty: list[str], live_run: str
) -> None:
    # Signing in without waiting for the page to be quiet: a live page is busy once a second.
    page.goto(f"{portal.url}/compare?runs={twenty[0]},{live_run}&keys=val/acc")
    page.get_by_role("textbox", name="User").fill("alice")
    page.get_by_role("textbox", name="Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_function(f"() => ({LAST_ACC})() >= 0", timeout=90_000)
    first = float(page.evaluate(f"({LAST_ACC})()"))
    # Nobody touches the page from here on: the chart moves by itself.
    page.wait_for_function(f"() => ({LAST_ACC})() >= {first + 5}", timeout=30_000)
    assert exceptions(page) == []
