"""Staying signed in, in headless Chromium on the demo's stack: after a password sign-in a
reload and a permalink opened in a new tab open directly; signing out ends it (a reload asks
again), and a forged cookie signs nobody in."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.ui.browser import exceptions, new_page, sign_in, wait_idle
from tests.ui.e2e.conftest import Portal

pytestmark = pytest.mark.e2e

PASSWORD = "cairn-demo"


def _asks_to_sign_in(page: Page) -> None:
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
    expect(page.get_by_text("Sign out")).to_have_count(0)


@pytest.mark.timeout(900)  # the first test of a session starts the demo stack
def test_a_sign_in_survives_reloads_and_permalinks_until_sign_out(
    page: Page, portal: Portal
) -> None:
    sign_in(page, portal.url, "alice", PASSWORD, path="")
    cookie = next(c for c in page.context.cookies() if c["name"] == "cairn_session")
    assert "cairn-demo" not in cookie["value"]
    assert cookie["sameSite"] == "Lax"

    page.reload()
    expect(page.get_by_text("Sign out")).to_be_visible()
    expect(page.get_by_text("Alice Moreau")).to_be_visible()

    run_id = portal.run_id("xgb-lr0.1-d6")
    tab = page.context.new_page()
    tab.goto(f"{portal.url}/run?id={run_id}")
    expect(tab.get_by_role("heading", name="xgb-lr0.1-d6")).to_be_visible()
    expect(tab.get_by_text("Sign out")).to_be_visible()
    wait_idle(tab)
    assert exceptions(tab) == []
    tab.close()

    page.get_by_role("button", name="Sign out").click()
    _asks_to_sign_in(page)
    page.wait_for_function("() => !document.cookie.includes('cairn_session=')")
    page.reload()
    _asks_to_sign_in(page)


def test_a_forged_cookie_signs_nobody_in(page: Page, portal: Portal) -> None:
    sign_in(page, portal.url, "bob", PASSWORD)
    token = next(c for c in page.context.cookies() if c["name"] == "cairn_session")["value"]
    # Bob's token made to say admin ("YWRtaW4" is base64url of "admin"): the MAC no longer fits.
    forged = token.replace(token.split(".")[1], "YWRtaW4", 1)
    other = new_page(page.context.browser)  # type: ignore[arg-type]
    try:
        other.context.add_cookies([{"name": "cairn_session", "value": forged, "url": portal.url}])
        other.goto(f"{portal.url}/")
        _asks_to_sign_in(other)
    finally:
        other.context.close()
