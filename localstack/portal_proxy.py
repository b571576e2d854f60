"""The local portal behind a small reverse proxy that adds the security headers Streamlit cannot.

Streamlit sets no Content-Security-Policy and no frame options, and has no setting for them.
``python -m localstack.portal_proxy --listen HOST:PORT -- <streamlit command>`` starts Streamlit
on a free port of 127.0.0.1 as its child, forwards every HTTP request and the portal's WebSocket
to it, and adds to every HTTP response:

- ``Content-Security-Policy``: scripts, styles, fonts and connections only from the portal
  itself; images only from the portal, ``data:`` and ``blob:`` (charts), so nothing a user wrote
  can make a browser fetch from another host; ``frame-ancestors 'none'`` (no clickjacking);
- ``X-Frame-Options: DENY`` for older browsers, ``X-Content-Type-Options: nosniff`` and
  ``Referrer-Policy: no-referrer``.

Streamlit's own scripts need ``'unsafe-inline'``/``'unsafe-eval'`` (it injects inline styles and
compiles Vega charts); the policy keeps every source to ``'self'``. In production put the same
headers on the load balancer or ingress in front of the portal (docs/permissions.md, X2).
``cairn up`` starts the portal this way (``localstack/stack.py``): the address users open is the
proxy's, and Streamlit itself listens only on a free port of 127.0.0.1. The proxy stops its
child when it stops (SIGTERM/SIGINT), and the child is told to exit if the proxy dies without
stopping it (Linux parent-death signal), so ``cairn down`` never leaves a Streamlit behind.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import ctypes.util
import signal
import subprocess
import sys
from collections.abc import Sequence

import aiohttp
from aiohttp import WSMsgType, web

from localstack.processes import free_port

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
        "connect-src 'self' ws: wss:; worker-src 'self' blob:; object-src 'none'; "
        "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_PR_SET_PDEATHSIG = 1
_HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
    "transfer-encoding", "upgrade", "content-length", "content-encoding", "host",
}  # fmt: skip


def build_app(upstream: str) -> web.Application:
    """An aiohttp app forwarding everything to ``upstream`` (``http://host:port``)."""
    session_holder: dict[str, aiohttp.ClientSession] = {}

    async def on_startup(app: web.Application) -> None:
        session_holder["s"] = aiohttp.ClientSession(auto_decompress=True)

    async def on_cleanup(app: web.Application) -> None:
        await session_holder["s"].close()

    async def forward(request: web.Request) -> web.StreamResponse:
        session = session_holder["s"]
        target = f"{upstream}{request.rel_url}"
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await _websocket(request, session, target, headers)
        body = await request.read()
        async with session.request(
            request.method, target, headers=headers, data=body or None, allow_redirects=False
        ) as answer:
            payload = await answer.read()
            out = web.Response(status=answer.status, body=payload)
            for key, value in answer.headers.items():
                if key.lower() not in _HOP_BY_HOP:
                    out.headers.add(key, value)
        out.headers.update(SECURITY_HEADERS)
        return out

    app = web.Application(client_max_size=256 * 1024 * 1024)
    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


async def _websocket(
    request: web.Request, session: aiohttp.ClientSession, target: str, headers: dict[str, str]
) -> web.WebSocketResponse:
    protocols = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    protocols = [p for p in protocols if p]
    downstream = web.WebSocketResponse(protocols=protocols, max_msg_size=0)
    await downstream.prepare(request)
    forwarded = {
        k: v
        for k, v in headers.items()
        if not k.lower().startswith("sec-websocket") and k.lower() != "origin"
    }
    async with session.ws_connect(
        target.replace("http://", "ws://", 1),
        headers=forwarded,
        protocols=protocols,
        max_msg_size=0,
    ) as upstream_ws:

        async def pump(source: object, sink: object) -> None:
            async for message in source:  # type: ignore[attr-defined]
                if message.type == WSMsgType.TEXT:
                    await sink.send_str(message.data)  # type: ignore[attr-defined]
                elif message.type == WSMsgType.BINARY:
                    await sink.send_bytes(message.data)  # type: ignore[attr-defined]
                else:
                    break

        tasks = [
            asyncio.create_task(pump(downstream, upstream_ws)),
            asyncio.create_task(pump(upstream_ws, downstream)),
        ]
        _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
    await downstream.close()
    return downstream


def _die_with_parent() -> None:
    """In the child, before exec: receive SIGTERM when the proxy exits, however it exits."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    split = args.index("--") if "--" in args else len(args)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--listen", required=True, help="host:port the portal is reached on")
    options = parser.parse_args(args[:split])
    command = args[split + 1 :]
    host, _, port = options.listen.rpartition(":")
    inner = free_port()
    child = subprocess.Popen(
        [*command, "--server.address=127.0.0.1", f"--server.port={inner}"],
        preexec_fn=_die_with_parent,  # no threads yet: the proxy starts below
    )

    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        web.run_app(
            build_app(f"http://127.0.0.1:{inner}"),
            host=host,
            port=int(port),
            print=None,
            handle_signals=False,
        )
    except KeyboardInterrupt:
        pass
    finally:
        child.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=10)
        if child.poll() is None:
            child.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
