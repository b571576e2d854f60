"""The portal served through ``localstack.portal_proxy`` answers with the security headers
(docs/permissions.md, X2): the real proxy in front of the real Streamlit portal, read over HTTP as
a browser would, and its WebSocket still works through the proxy."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from localstack import health, processes

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def portal_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("portal")
    port = processes.free_port()
    log = (home / "proxy.log").open("wb")
    proxy = subprocess.Popen(
        [
            sys.executable, "-m", "localstack.portal_proxy", f"--listen=127.0.0.1:{port}", "--",
            sys.executable, "-m", "streamlit", "run", str(REPO / "ui" / "app.py"),
            "--server.headless=true", "--browser.gatherUsageStats=false",
            "--server.fileWatcherType=none",
        ],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
        env={"PATH": "/usr/bin:/bin", "HOME": str(home), "CAIRN_HOME": str(home / "cairn")},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        processes.wait_until(
            lambda: health.http_ok(f"{url}/_stcore/health"), what="portal", timeout=90
        )
        yield url
    finally:
        proxy.terminate()
        proxy.wait(timeout=30)
        log.close()


def test_portal_security_headers(portal_url: str) -> None:
    for path in ("/", "/_stcore/health", "/run?id=x"):
        with urllib.request.urlopen(f"{portal_url}{path}", timeout=30) as answer:  # noqa: S310
            headers = answer.headers
            assert answer.status == 200
        policy = headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in policy
        assert "img-src 'self' data: blob:" in policy
        assert "default-src 'self'" in policy
        assert headers["X-Frame-Options"] == "DENY"

    async def handshake() -> bool:
        url = portal_url.replace("http://", "ws://") + "/_stcore/stream"
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(url, protocols=["streamlit"]) as socket,
        ):
            return not socket.closed

    assert asyncio.run(handshake())
