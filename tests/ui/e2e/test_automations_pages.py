"""The portal's Automations and Inbox pages in headless Chromium, on the demo's stack: Alice
creates a rule on the Automations page, Dave mentions her in a comment, the rule's delivery shows
in the page's delivery log, and Alice reads the rule's item in her Inbox (the page's and the
sidebar's unread counts drop by exactly one). Every write goes through ingest as the signed-in
person; what the pages show is read back from the store."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.ui.browser import exceptions, sign_in, wait_idle
from tests.ui.e2e.conftest import Portal

pytestmark = pytest.mark.e2e

PASSWORD = "cairn-demo"
GRID = '[data-testid="stDataFrame"]'


def _sidebar_says(page: Page, title: str) -> bool:
    return page.get_by_test_id("stSidebarNavLink").get_by_text(title, exact=True).count() == 1


def _rerun_until(page: Page, shown: Callable[[], bool], what: str, timeout: float = 90.0) -> None:
    """Rerun the current page (Streamlit's ``r`` shortcut: same session, same widget values)
    until ``shown()``; the processors deliver and project in the background."""
    deadline = time.monotonic() + timeout
    while not shown():
        assert time.monotonic() < deadline, f"{what} not shown within {timeout:.0f} s"
        time.sleep(1.0)
        page.locator("h1").first.click()  # the shortcut needs the focus outside any input
        page.keyboard.press("r")
        wait_idle(page)


def _choose(page: Page, box: Locator, option: str) -> None:
    box.click()
    box.fill(option)
    page.get_by_role("option", name=option).first.click()
    wait_idle(page)


def _unread(page: Page) -> tuple[int, int]:
    """The Inbox's caption: (unread, total)."""
    caption = page.get_by_text(re.compile(r"^\d+ unread of \d+$")).inner_text()
    unread, total = re.findall(r"\d+", caption)
    return int(unread), int(total)


def test_a_rule_made_in_the_portal_delivers_to_the_inbox_where_it_is_read(
    page: Page, portal: Portal
) -> None:
    name = f"e2e-mentions-{uuid.uuid4().hex[:6]}"
    sign_in(page, portal.url, "alice", PASSWORD, "automations?team=risk")
    expect(page.get_by_role("heading", name="Automations")).to_be_visible()
    # The action's kind sits outside the form, so the target field is labelled for it at once.
    page.get_by_test_id("stRadio").first.get_by_text("inbox", exact=True).click()
    wait_idle(page)
    page.get_by_role("textbox", name="Name (lowercase letters, digits, - and _)").fill(name)
    _choose(page, page.get_by_role("combobox", name="Trigger").first, "comment.mention")
    page.get_by_role("textbox", name="Condition (filter language, optional)").first.fill(
        "tags.user = 'alice'"
    )
    page.get_by_role("textbox", name="User", exact=True).first.fill("alice")
    page.get_by_role("button", name="Create rule").click()
    wait_idle(page)
    expect(page.get_by_text(f"Rule '{name}' created")).to_be_visible()
    assert not exceptions(page)
    _rerun_until(
        page,
        lambda: page.locator(GRID).first.filter(has_text=name).count() == 1,
        f"rule {name} in the rules table",
    )
    expect(page.locator(GRID).first).to_contain_text("comment.mention")
    expect(page.locator(GRID).first).to_contain_text("inbox alice")

    # Dave, another member of risk, mentions Alice on one of her runs.
    run_id = portal.run_id("xgb-lr0.3-d4")
    marker = f"look-{uuid.uuid4().hex[:8]}"
    dave = page.context.browser.new_context().new_page()  # type: ignore[union-attr]
    sign_in(dave, portal.url, "dave", PASSWORD, f"run?id={run_id}&tab=Discussion")
    dave.get_by_role("textbox", name="Add a comment").fill(f"@alice please {marker}")
    dave.get_by_role("button", name="Post comment").click()
    dave.locator(".cairn-comment", has_text=marker).wait_for()
    dave.context.close()

    # The rule's delivery shows in the Automations page's log: delivered to Alice's inbox once.
    _choose(page, page.get_by_role("combobox", name="Of rule"), name)
    log = page.locator(GRID).last
    _rerun_until(page, lambda: marker in (log.text_content() or ""), "the delivery")
    expect(log).to_contain_text("delivered")
    expect(log).to_contain_text("inbox alice")
    assert (log.text_content() or "").count(marker) == 1
    assert not exceptions(page)

    # The Inbox shows the rule's item and the mention itself, both unread.
    page.get_by_test_id("stSidebarNavLink").get_by_text(re.compile(r"^Inbox\b")).click()
    wait_idle(page)
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    item = f"dave mentioned alice on {run_id}: @alice please {marker}"
    _rerun_until(page, lambda: item in (page.locator(GRID).first.text_content() or ""), item)
    expect(page.locator(GRID).first).to_contain_text(f"dave mentioned you: @alice please {marker}")
    unread, total = _unread(page)
    _rerun_until(page, lambda: _sidebar_says(page, f"Inbox ({unread})"), "the sidebar's count")

    # Alice marks the rule's item read: one fewer unread, the same items.
    _choose(page, page.get_by_role("combobox", name="Mark read"), f"Automation: {item}")
    page.keyboard.press("Escape")  # close the multiselect's list
    wait_idle(page)
    page.get_by_role("button", name="Mark selected read").click()
    wait_idle(page)
    expect(page.get_by_text("1 marked read")).to_be_visible()
    _rerun_until(page, lambda: _unread(page) == (unread - 1, total), "one fewer unread")
    # The sidebar's count is cached for seconds (it is drawn on every page): rerun until it shows.
    fewer = f"Inbox ({unread - 1})" if unread > 1 else "Inbox"
    _rerun_until(page, lambda: _sidebar_says(page, fewer), "the sidebar's count, one fewer")
    assert not exceptions(page)
