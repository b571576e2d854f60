"""The Inbox and Automations pages in headless Chromium against the demo stack: alice sees bob's
mention of her with an unread count in the sidebar, marks everything read, and creates an
automation rule that lands in the store through ingest."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from query import automations
from query.access import Caller
from query.client import connect
from tests.ui.browser import exceptions, sign_in, wait_idle
from tests.ui.e2e.conftest import Portal

pytestmark = pytest.mark.e2e

PASSWORD = "cairn-demo"


def test_the_inbox_shows_a_mention_and_marking_read_clears_the_count(
    page: Page, portal: Portal
) -> None:
    sign_in(page, portal.url, "alice", PASSWORD, "inbox")
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    nav = page.get_by_test_id("stSidebarNavLink")
    expect(nav.filter(has_text=re.compile(r"^Inbox \(\d+\)$"))).to_have_count(1)
    caption = page.get_by_text(re.compile(r"^\d+ unread of \d+$"))
    unread = int(caption.inner_text().split()[0])
    assert unread >= 1  # the demo: bob mentions @alice in the churn project
    page.get_by_role("button", name="Mark all read").click()
    wait_idle(page)
    expect(page.get_by_text(f"{unread} marked read")).to_be_visible()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        page.reload()
        wait_idle(page)
        if page.get_by_text(re.compile(r"^0 unread of \d+$")).count():
            break
        time.sleep(1)
    expect(page.get_by_text(re.compile(r"^0 unread of \d+$"))).to_be_visible()
    expect(nav.filter(has_text=re.compile(r"^Inbox$"))).to_have_count(1)
    assert not exceptions(page)


def test_a_rule_created_on_the_automations_page_reaches_the_store(
    page: Page, portal: Portal
) -> None:
    name = f"e2e-{time.time_ns() % 10**9}"
    sign_in(page, portal.url, "alice", PASSWORD, "automations")
    form = page.get_by_test_id("stForm").first
    form.get_by_role("textbox", name=re.compile("^Name")).fill(name)
    form.get_by_text("inbox", exact=True).click()
    form.get_by_role("textbox", name="User").fill("alice")
    form.get_by_role("button", name="Create rule").click()
    wait_idle(page)
    expect(page.get_by_text(f"Rule '{name}' created")).to_be_visible()
    client = connect(portal.clickhouse_url)
    try:
        deadline = time.monotonic() + 30
        found: tuple[automations.RuleInfo, ...] = ()
        while time.monotonic() < deadline and not found:
            found = tuple(
                r for r in automations.rules(client, Caller("e2e", admin=True)) if r.name == name
            )
            time.sleep(0.5)
    finally:
        client.close()
    (rule,) = found
    assert (rule.team, rule.trigger, rule.targets, rule.created_by) == (
        "risk",
        "run.failed",
        ("inbox alice",),
        "alice",
    )
    # A bad condition is refused with the field and rule, not a traceback.
    form.get_by_role("textbox", name=re.compile("^Name")).fill(f"{name}-bad")
    form.get_by_role("textbox", name=re.compile("^Condition")).fill("metrics.loss >")
    form.get_by_role("button", name="Create rule").click()
    wait_idle(page)
    expect(page.get_by_text(re.compile("Creating the rule failed: .*condition"))).to_be_visible()
    assert not exceptions(page)
