"""The local stack's portal answers with the security headers (docs/permissions.md, X2) and
works in a real browser through the proxy that adds them: ``cairn up`` as a user runs it
(private home, free ports), its portal address read over HTTP as a browser would, then Chromium
signing in and moving between pages (Streamlit's WebSocket, ``/_stcore/stream``, through the
proxy)."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Iterator
from urllib.parse import urlsplit

import aiohttp
import pytest

from localstack.demo import DEMO_PASSWORD, write_users_file
from tests.ui.browser import chromium, new_page, open_from_sidebar, sign_in, wait_idle
from tests.ui.stack import DemoStack, demo_stack

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.fixture(scope="module")
def stack() -> Iterator[DemoStack]:
    with demo_stack(seed=False) as running:
        write_users_file(running.home / "portal-users.json")
        yield running


def test_portal_security_headers(stack: DemoStack) -> None:
    for path in ("/", "/_stcore/health", "/run?id=x", "/static/favicon.png"):
        with urllib.request.urlopen(f"{stack.portal_url}{path}", timeout=60) as answer:  # noqa: S310
            headers = answer.headers
        policy = {
            directive.split()[0]: directive.split()[1:]
            for directive in headers["Content-Security-Policy"].split(";")
            if directive.strip()
        }
        assert policy["frame-ancestors"] == ["'none'"], path
        assert policy["img-src"] == ["'self'", "data:", "blob:"], path
        assert policy["default-src"] == ["'self'"], path
        assert not {"http:", "https:"} & set(policy["script-src"])
        assert not any("*" in source for sources in policy.values() for source in sources)
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer"

    async def handshake() -> bool:
        url = stack.portal_url.replace("http://", "ws://") + "/_stcore/stream"
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(url, protocols=["streamlit"]) as socket,
        ):
            return not socket.closed

    assert asyncio.run(handshake())


def test_streamlit_listens_only_behind_the_proxy(stack: DemoStack) -> None:
    """The portal's address is the proxy's; nothing answers without the headers on it."""
    port = int(stack.env["CAIRN_PORTAL_PORT"])
    record = json.loads((stack.home / "local-stack.json").read_text())
    assert urlsplit(record["portal_url"]).port == port
    with urllib.request.urlopen(f"{stack.portal_url}/", timeout=60) as answer:  # noqa: S310
        assert "Content-Security-Policy" in answer.headers


@pytest.mark.timeout(600)
def test_the_portal_works_in_a_browser_through_the_proxy(stack: DemoStack) -> None:
    remote: list[str] = []
    violations: list[str] = []
    with chromium() as browser:
        page = new_page(browser)
        # A portal's first page load after start-up is slow on a busy machine; later ones not.
        page.set_default_timeout(120_000)
        page.on(
            "request",
            lambda request: (
                remote.append(request.url)
                if urlsplit(request.url).hostname not in ("127.0.0.1", None)
                and not request.url.startswith(("data:", "blob:"))
                else None
            ),
        )
        page.on(
            "console",
            lambda message: (
                violations.append(message.text)
                if "Content Security Policy" in message.text
                else None
            ),
        )
        sign_in(page, stack.portal_url, "alice", DEMO_PASSWORD)
        open_from_sidebar(page, "Runs")
        wait_idle(page, timeout=120)
        assert page.get_by_text("Sign out").count() >= 1
        assert page.locator('[data-testid="stException"]').count() == 0
        served = page.evaluate("document.location.origin")
    assert served == stack.portal_url
    # Whatever asked for another host was refused by the policy, never fetched: the only
    # remote requests a page makes are Streamlit's own icon font, and each is a CSP violation.
    for url in remote:
        assert any(url.split("?")[0] in text for text in violations), (url, violations)
