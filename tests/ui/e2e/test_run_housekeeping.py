"""Run housekeeping on the Run page, in headless Chromium on the demo's stack: Alice (a member of
the run's team) renames a run logged with the SDK, describes it, changes its tags and archives
it; the page and run search show the changes, attributed to her. Carol, whose team the run is
only shared with, is not offered the edits (P8; forced, they are refused: tests/security)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest
from playwright.sync_api import Page, expect

from query.access import Caller
from query.client import connect
from query.collaboration import activity
from tests.ui.browser import exceptions, sign_in, wait_idle
from tests.ui.e2e.conftest import Portal

pytestmark = pytest.mark.e2e

PASSWORD = "cairn-demo"
SCRIPT = """
import sys
import cairn

with cairn.init(name=sys.argv[1], tags={"stage": "draft"}) as run:
    run.log({"loss": 1.0}, step=0)
print(run.id)
"""


def _log_run(portal: Portal, name: str) -> str:
    assert portal.home is not None, "the stack's CAIRN_HOME (CAIRN_E2E_HOME)"
    env = {
        **os.environ,
        "CAIRN_API_KEY": json.loads((portal.home / "demo-seed-keys.json").read_text())["risk"],
        "CAIRN_INGEST_URL": portal.ingest_url,
        "CAIRN_TEAM": "risk",
        "CAIRN_PROJECT": "tidy-e2e",
        "CAIRN_DIR": str(portal.home / "e2e-tidy"),
        "CAIRN_CAPTURE_OFF": "git,environment,packages,gpu,command,system_metrics",
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, name], env=env, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip().splitlines()[-1]
    deadline = time.monotonic() + 60
    while portal.visible_runs("alice", frozenset({"risk"}), f"run_id = '{run_id}'") == 0:
        assert time.monotonic() < deadline, "the run was not projected within 60 s"
        time.sleep(0.5)
    return run_id


@pytest.mark.timeout(900)  # the first test of a session starts the demo stack
def test_a_member_renames_describes_tags_and_archives_a_run(page: Page, portal: Portal) -> None:
    name = f"tidy-{time.time_ns()}"
    run_id = _log_run(portal, name)
    sign_in(page, portal.url, "alice", PASSWORD, path=f"run?id={run_id}")
    expect(page.get_by_role("heading", name=name)).to_be_visible()

    page.get_by_role("button", name="Edit run").click()
    page.get_by_role("textbox", name="Name", exact=True).fill(f"{name}-final")
    page.get_by_role("textbox", name="Description (Markdown)").fill("Kept for **review**")
    page.get_by_role("textbox", name="Add or change a tag: key").fill("reviewed")
    page.get_by_role("textbox", name="value", exact=True).fill("yes")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name=f"{name}-final")).to_be_visible()
    expect(page.locator("strong", has_text="review")).to_be_visible()
    wait_idle(page)

    # Run search (every run picker and the Runs page's filter) finds it by its new name and tag.
    alice = ("alice", frozenset({"risk"}))
    assert portal.visible_runs(*alice, f"name = '{name}-final' and tags.reviewed = 'yes'") == 1
    assert portal.visible_runs(*alice, f"name = '{name}'") == 0

    reason = page.get_by_role("textbox", name="Why (kept in the history)")
    if not reason.is_visible():  # the popover may still be open after saving
        page.get_by_role("button", name="Edit run").click()
    reason.fill("superseded")
    page.get_by_role("button", name="Archive run").click()
    # The badge (its icon's name is text too); the toast says "Run archived".
    expect(page.get_by_text(re.compile(r"Archived$"))).to_be_visible()
    wait_idle(page)
    assert exceptions(page) == []

    # Attributed to Alice, not to the portal's key.
    found = activity(connect(portal.clickhouse_url), Caller("e2e", admin=True), run_id=run_id)
    edits = {
        a.event_type: a.actor for a in found if a.event_type in ("run_renamed", "run_archived")
    }
    assert edits == {"run_renamed": "alice", "run_archived": "alice"}, found


def test_a_team_the_run_is_only_shared_with_is_not_offered_edits(
    page: Page, portal: Portal
) -> None:
    run_id = portal.run_id("xgb-lr0.1-d6")  # risk's run, shared with vision
    sign_in(page, portal.url, "carol", PASSWORD, path=f"run?id={run_id}")
    expect(page.get_by_role("heading", name="xgb-lr0.1-d6")).to_be_visible()
    expect(page.get_by_role("button", name="Edit run")).to_have_count(0)
