"""The Run page's fork tree and rewind points in headless Chromium, on the demo's stack: the demo's
``effnet-b3-lowlr`` was forked from ``effnet-b3`` at step 1000 and rewound to step 1200
(localstack/demo_story.py, ``_fork_and_rewind``); Carol, of the vision team, opens it."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from localstack.demo import FORK_NAME
from tests.ui.browser import exceptions, sign_in, wait_idle
from tests.ui.e2e.conftest import Portal

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(900)  # the first test of a session starts the demo stack
def test_the_run_page_shows_the_fork_tree_and_marks_fork_and_rewind_on_the_charts(
    page: Page, portal: Portal
) -> None:
    fork_id = portal.run_id(FORK_NAME)
    sign_in(page, portal.url, "carol", "cairn-demo", f"run?id={fork_id}")
    wait_idle(page, timeout=120)
    expect(page.get_by_text("Fork tree")).to_be_visible()
    parent_link = page.get_by_role("link", name="forked from effnet-b3 at step 1000")
    expect(parent_link).to_be_visible()
    # (the charts' marks say "rewound to step 1200" too: the fork tree's line goes on with "on")
    expect(page.locator("p").filter(has_text="Rewound to step 1200 on")).to_be_visible()
    # Both marked on the charts, and the abandoned points drawn as an earlier attempt.
    expect(
        page.locator("text.annotation-text", has_text="forked at step 1000").first
    ).to_be_visible()
    expect(
        page.locator("text.annotation-text", has_text="rewound to step 1200").first
    ).to_be_visible()
    expect(page.locator("text.legendtext", has_text="earlier attempt 1").first).to_be_visible()
    assert not exceptions(page)

    parent_link.click()  # the parent lists its fork
    wait_idle(page, timeout=120)
    expect(page.get_by_text("Forks of this run (1):")).to_be_visible()
    expect(page.get_by_role("link", name=f"{FORK_NAME} · from step 1000")).to_be_visible()
    assert not exceptions(page)
