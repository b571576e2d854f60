"""The Run page's Reproduce section in headless Chromium, on the demo's stack: a newcomer opens a
colleague's run, clicks Reproduce, and sees the exact command and what would differ today."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.ui.browser import exceptions, sign_in, wait_idle
from tests.ui.e2e.conftest import Portal

pytestmark = pytest.mark.e2e


def test_the_reproduce_section_shows_the_command_and_what_would_differ(
    page: Page, portal: Portal
) -> None:
    run_id = portal.run_id("baseline-logreg")
    sign_in(page, portal.url, "alice", "cairn-demo", f"run?id={run_id}")
    page.locator('[data-testid="stButtonGroup"] button', has_text="Reproduce").click()
    wait_idle(page, timeout=120)
    expect(page.get_by_role("heading", name="Reproduce this run")).to_be_visible()
    expect(page.locator('[data-testid="stCode"]').first).to_contain_text(
        f"cairn reproduce {run_id}"
    )
    expect(page.get_by_text("What would differ today")).to_be_visible()
    # The demo's datasets live in S3: not verifiable here, and the section says so.
    expect(page.get_by_text("outside any store Cairn can read").first).to_be_visible()
    expect(page.get_by_text("No reproduction of this run has been recorded yet.")).to_be_visible()
    assert "tab=Reproduce" in page.url
    assert not exceptions(page)
