"""Driving the real portal in Debian's Chromium with Playwright (no browser download, ever).

Shared by the browser tests, the screenshot script and the render benchmark. Chromium is the
system package (``deploy/local/install-browser.sh`` installs it); the flags keep a headless
browser from reaching for the network it does not have.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
APP = '[data-testid="stApp"]'
# Placeholders Streamlit shows while an element's code is still loading in the browser.
LOADING = (
    '[data-testid="stSkeleton"], [data-testid="stSkeletonElement"], '
    '[data-testid="stAppSkeleton"], [data-testid="stSpinner"]'
)


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless system Chromium, closed afterwards."""
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing: run deploy/local/install-browser.sh")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser: Browser, width: int = 1440, height: int = 1000) -> Page:
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(20_000)
    return page


def wait_idle(page: Page, timeout: float = 30.0, settle: float = 0.3) -> float:
    """Wait until the script run the last action triggered has finished and the page has been
    quiet for ``settle`` seconds; returns the seconds from the call until it became quiet (what
    a person waits for the page to be complete)."""
    started = time.monotonic()
    deadline = started + timeout
    quiet_since: float | None = None
    while time.monotonic() < deadline:
        state = page.get_attribute(APP, "data-test-script-state")
        running = state in (None, "initial", "running", "rerunRequested")
        running = running or page.locator(LOADING).count() > 0
        now = time.monotonic()
        if running:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now
        elif now - quiet_since >= settle:
            return quiet_since - started
        time.sleep(0.05)
    raise TimeoutError(f"the portal kept running for {timeout} s")


def sign_in(page: Page, base_url: str, user: str, password: str, path: str = "") -> None:
    """Open ``base_url/path`` and sign in with a password. A context that signed in before
    holds the portal's session cookie and opens the page directly; it is signed out first
    when the cookie is someone else's."""
    page.goto(f"{base_url}/{path}")
    form = page.get_by_role("textbox", name="User")
    signed_in = page.get_by_text("Sign out")
    form.or_(signed_in).first.wait_for(timeout=60_000)
    if not form.is_visible():
        who = page.locator('[data-testid="stSidebar"]').inner_text()
        if _display_name(user) in who:
            wait_idle(page)
            return
        signed_in.click()
        page.goto(f"{base_url}/{path}")
    page.get_by_role("textbox", name="User").fill(user)
    page.get_by_role("textbox", name="Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_text("Sign out").wait_for()
    wait_idle(page)


_DEMO_NAMES = {
    "alice": "Alice Moreau", "bob": "Bob Okafor", "carol": "Carol Lin", "dave": "Dave Singh",
    "admin": "Portal Admin",
}  # fmt: skip


def _display_name(user: str) -> str:
    return _DEMO_NAMES.get(user, user)


def exceptions(page: Page) -> list[str]:
    """Texts of the exceptions the page shows (Streamlit's red boxes)."""
    return [box.inner_text() for box in page.locator('[data-testid="stException"]').all()]


def open_from_sidebar(page: Page, title: str) -> None:
    """Click the sidebar's link to the page called ``title`` (same session, no reload)."""
    page.get_by_test_id("stSidebarNavLink").get_by_text(title, exact=True).click()
