"""A running run's page updates by itself, in headless Chromium on the demo's stack.

A script logs with the SDK (as a user's training does, through the stack's ingest) while Alice
has the run's page open: the new points, the last value and the duration appear without any
click, and when the script ends the run the status turns to finished by itself. A finished run's
page then stays still: the portal sends it nothing while nobody touches it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.ui.browser import exceptions, sign_in, wait_idle
from tests.ui.e2e.conftest import Portal

pytestmark = pytest.mark.e2e

PASSWORD = "cairn-demo"
GRID = '[data-testid="stDataFrame"]'
# Logs one point per line it reads ("log <step> <loss>"), says "ok" once it is sent, and ends
# the run on "end": the test decides when each point is logged.
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


class Training:
    """The SDK script, driven line by line."""

    def __init__(self, portal: Portal, name: str) -> None:
        assert portal.home is not None, "the stack's CAIRN_HOME (CAIRN_E2E_HOME)"
        assert portal.ingest_url, "the stack's ingest address (CAIRN_E2E_INGEST_URL)"
        key = json.loads((portal.home / "demo-seed-keys.json").read_text())["risk"]
        env = {
            **os.environ,
            "CAIRN_API_KEY": key,
            "CAIRN_INGEST_URL": portal.ingest_url,
            "CAIRN_TEAM": "risk",
            "CAIRN_PROJECT": "live-e2e",
            "CAIRN_DIR": str(portal.home / "e2e-live"),
            "CAIRN_CAPTURE_OFF": "git,environment,packages,gpu,command,system_metrics",
        }
        self.process = subprocess.Popen(
            [sys.executable, "-c", SCRIPT, name], env=env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )  # fmt: skip
        assert self.process.stdout is not None
        self.run_id = self.process.stdout.readline().strip()
        assert self.run_id, "the script did not start a run"

    def log(self, step: int, loss: float) -> float:
        """Log one point; returns when it was sent (monotonic)."""
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(f"log {step} {loss}\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline().strip() == "ok"
        return time.monotonic()

    def end(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("end\n")
        self.process.stdin.close()
        assert self.process.wait(timeout=120) == 0

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def training(portal: Portal) -> Iterator[Training]:
    script = Training(portal, f"live-e2e-{time.time_ns()}")
    yield script
    script.kill()


# The steps the first chart draws: Plotly keeps the decoded traces on the graph's element.
STEPS = """() => {
    const graph = document.querySelector('.js-plotly-plot');
    return graph && graph._fullData ? graph._fullData.flatMap(t => Array.from(t.x || [])) : [];
}"""


def _steps(page: Page) -> list[float]:
    return [float(x) for x in page.evaluate(STEPS)]


class Traffic:
    """What the portal sends this page over its websocket: every script run (a rerun or a
    fragment's) sends at least its start and its end, so a page nobody touches that receives
    nothing did not run anything."""

    def __init__(self, page: Page) -> None:
        self.frames: list[float] = []
        page.on("websocket", lambda ws: ws.on("framereceived", self._received))

    def _received(self, _: object) -> None:
        self.frames.append(time.monotonic())

    def during(self, page: Page, seconds: float) -> int:
        """How many messages arrive in the next ``seconds``."""
        start = time.monotonic()
        page.wait_for_timeout(seconds * 1000)
        return sum(1 for at in self.frames if at >= start)


@pytest.mark.timeout(900)  # the first test of a session starts the demo stack
def test_a_running_runs_page_shows_new_points_by_itself(
    page: Page, portal: Portal, training: Training
) -> None:
    traffic = Traffic(page)
    for step in range(3):
        training.log(step, 1.0 / (step + 1))
    # Signing in without waiting for the page to be quiet: a live page is busy once a second.
    page.goto(f"{portal.url}/run?id={training.run_id}&keys=loss")
    page.get_by_role("textbox", name="User").fill("alice")
    page.get_by_role("textbox", name="Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    overview = page.get_by_test_id("stHorizontalBlock").first
    expect(overview).to_contain_text("running")
    expect(overview).to_contain_text("so far")
    page.wait_for_function(f"() => ({STEPS})().includes(2)")
    grid = page.locator(GRID).first
    expect(grid).to_contain_text("0.3333")  # loss at step 2, the last value

    # Nobody touches the page from here on.
    latencies = []
    for step, loss in ((3, 0.125), (4, 0.0625), (5, 0.03125)):
        sent = training.log(step, loss)
        page.wait_for_function(f"() => ({STEPS})().includes({step})", timeout=30_000)
        latencies.append(time.monotonic() - sent)
    assert _steps(page) == [0, 1, 2, 3, 4, 5]
    expect(grid).to_contain_text("0.03125")  # the summary's last value followed
    print(f"logged point on screen after {', '.join(f'{s:.2f}' for s in latencies)} s")

    # The watch that sees a finished page stay still sees a running one refresh.
    assert traffic.during(page, 3) > 0

    training.end()
    expect(overview).to_contain_text("finished")
    expect(overview).not_to_contain_text("so far")
    wait_idle(page)
    # Once ended, the page stops refreshing.
    assert traffic.during(page, 5) == 0
    assert exceptions(page) == []


def test_a_finished_runs_page_does_not_refresh(page: Page, portal: Portal) -> None:
    run_id = portal.run_id("xgb-lr0.1-d6")
    traffic = Traffic(page)
    sign_in(page, portal.url, "alice", PASSWORD, path=f"run?id={run_id}")
    expect(page.get_by_test_id("stHorizontalBlock").first).to_contain_text("finished")
    wait_idle(page)
    assert traffic.during(page, 5) == 0
    assert exceptions(page) == []
