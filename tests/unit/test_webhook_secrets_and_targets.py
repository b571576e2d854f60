"""Webhook secrets sealed by ingest and opened by the processors, and the internal-target policy
at rule creation and at delivery (with aiohttp's real resolver and a real local receiver)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from cairn_contract.errors import FailedPreconditionError, ValidationError
from cairn_contract.v1 import automations_pb2, envelope_pb2, events_pb2
from domain.automations import Action, Notification, secret_bound_to
from domain.webhook_targets import LOOPBACK, RULE, TargetPolicy
from ingest.webhook_rules import prepare_webhooks
from processors.delivery import WebhookSender
from servicekit.secret_box import SealError, SecretBox, new_key

KEY = new_key()
SECRET = "s3cret"  # a test rule's signing secret


def _rule_batch(url: str, secret: str = SECRET, *, team: str = "vision") -> events_pb2.EventBatch:
    event = events_pb2.Event(
        envelope=envelope_pb2.Envelope(
            event_id="e-1", aggregate_kind=envelope_pb2.AGGREGATE_KIND_RULE, aggregate_id="hook",
            team=team,
        )
    )  # fmt: skip
    action = event.rule_created.definition.actions.add()
    action.webhook.CopyFrom(automations_pb2.WebhookAction(url=url, secret=secret))
    return events_pb2.EventBatch(events=[event])


def test_ingest_seals_the_secret_bound_to_the_rule() -> None:
    box = SecretBox(KEY)
    batch = _rule_batch("https://hooks.example.com/x")
    prepare_webhooks(batch, box, TargetPolicy())
    hook = batch.events[0].rule_created.definition.actions[0].webhook
    assert hook.secret == ""
    assert b"s3cret" not in hook.sealed_secret
    assert box.open(hook.sealed_secret, secret_bound_to("vision", "hook")) == "s3cret"
    with pytest.raises(SealError):  # copied into another team's rule of the same name
        box.open(hook.sealed_secret, secret_bound_to("audio", "hook"))
    with pytest.raises(SealError):
        SecretBox(new_key()).open(hook.sealed_secret, secret_bound_to("vision", "hook"))


def test_a_sealed_secret_from_another_rule_is_refused() -> None:
    box = SecretBox(KEY)
    stolen = box.seal("theirs", secret_bound_to("audio", "hook"))
    batch = _rule_batch("https://hooks.example.com/x", secret="")
    batch.events[0].rule_created.definition.actions[0].webhook.sealed_secret = stolen
    with pytest.raises(ValidationError) as refused:
        prepare_webhooks(batch, box, TargetPolicy())
    assert refused.value.rule == "sealed_secret"


def test_without_a_key_ingest_refuses_rather_than_store_a_plain_secret() -> None:
    with pytest.raises(FailedPreconditionError) as refused:
        prepare_webhooks(_rule_batch("https://hooks.example.com/x"), None, TargetPolicy())
    assert refused.value.field == "events[0].rule_created.definition.actions[0].webhook.secret"
    assert refused.value.rule == "secret_key_configured"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/x",
        "http://localhost/x",
        "http://metadata.localhost/x",
        "http://169.254.169.254/latest/meta-data",
        "http://10.1.2.3/x",
        "http://172.16.0.1/x",
        "http://192.168.0.10/x",
        "http://100.64.0.1/x",
        "http://0.0.0.0/x",
        "http://[::1]/x",
        "http://[fe80::1]/x",
        "http://[::ffff:127.0.0.1]/x",
        "http://224.0.0.1/x",
    ],
)
def test_internal_targets_are_refused_at_creation(url: str) -> None:
    with pytest.raises(ValidationError) as refused:
        prepare_webhooks(_rule_batch(url), SecretBox(KEY), TargetPolicy())
    assert refused.value.field == "events[0].rule_created.definition.actions[0].webhook.url"
    assert refused.value.rule == RULE


def test_public_targets_and_allowed_networks_pass() -> None:
    for url in ("https://hooks.slack.com/services/T/B/X", "http://93.184.215.14/x"):
        prepare_webhooks(_rule_batch(url), SecretBox(KEY), TargetPolicy())
    loopback = TargetPolicy.from_setting(LOOPBACK)
    for url in ("http://127.0.0.1:9/x", "http://localhost:9/x", "http://[::1]:9/x"):
        prepare_webhooks(_rule_batch(url), SecretBox(KEY), loopback)
    with pytest.raises(ValidationError):
        prepare_webhooks(_rule_batch("http://10.0.0.1/x"), SecretBox(KEY), loopback)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[web.Request], list[bytes]]]:
    seen: list[web.Request] = []
    bodies: list[bytes] = []

    async def hook(request: web.Request) -> web.Response:
        seen.append(request)
        bodies.append(await request.read())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"127.0.0.1:{port}", seen, bodies
    finally:
        await runner.cleanup()


def _note(url: str, sealed: bytes) -> Notification:
    action = Action("webhook", url, sealed=base64.b64encode(sealed).decode())
    return Notification("d-1", "vision", "hook", "run.failed", "e-1", 0, action, text="x")


async def test_delivery_signs_with_the_opened_secret_and_refuses_internal_addresses(
    receiver: tuple[str, list[web.Request], list[bytes]],
) -> None:
    address, seen, bodies = receiver
    port = address.rsplit(":", 1)[1]
    box = SecretBox(KEY)
    sealed = box.seal("s3cret", secret_bound_to("vision", "hook"))
    allowed = WebhookSender(5.0, box=box, policy=TargetPolicy.from_setting(LOOPBACK))
    refusing = WebhookSender(5.0, box=box, policy=TargetPolicy())
    try:
        ok = await allowed.send(_note(f"http://{address}/hook", sealed))
        assert ok.ok, ok.error
        signature = "sha256=" + hmac.new(b"s3cret", bodies[0], hashlib.sha256).hexdigest()
        assert seen[0].headers["X-Cairn-Signature"] == signature
        # An IP literal, and a name the real resolver turns into loopback (what a DNS rebinding
        # to an internal address looks like at delivery): refused before any request is sent.
        for url in (f"http://{address}/hook", f"http://localhost:{port}/hook"):
            outcome = await refusing.send(_note(url, sealed))
            assert not outcome.ok
            assert outcome.permanent
            assert f"(rule {RULE})" in outcome.error
            assert "CAIRN_WEBHOOK_ALLOWED_NETWORKS" in outcome.error
        assert len(seen) == 1
        unopenable = await allowed.send(_note(f"http://{address}/hook", b"\0" * 40))
        assert not unopenable.ok
        assert unopenable.permanent
        assert len(seen) == 1
    finally:
        await allowed.close()
        await refusing.close()
        await asyncio.sleep(0)


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


async def test_redirects_stay_on_the_rules_origin_and_slow_receivers_time_out() -> None:
    """Outbound requests go only where the rule says: a redirect on the same origin is followed,
    one to another origin (here another port) is refused without a request to it, and a receiver
    that does not answer within the timeout is a failed attempt (retried, not permanent)."""
    hits: dict[str, int] = {"moved": 0, "final": 0, "elsewhere": 0, "slow": 0}
    other_app = web.Application()

    async def elsewhere(request: web.Request) -> web.Response:
        hits["elsewhere"] += 1
        return web.Response(text="ok")

    other_app.router.add_post("/elsewhere", elsewhere)
    other, other_url = await _serve(other_app)

    async def moved(request: web.Request) -> web.Response:
        hits["moved"] += 1
        raise web.HTTPTemporaryRedirect("/final")

    async def final(request: web.Request) -> web.Response:
        hits["final"] += 1
        return web.Response(text="ok")

    async def away(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(f"{other_url}/elsewhere")

    async def slow(request: web.Request) -> web.Response:
        hits["slow"] += 1
        await asyncio.sleep(3.0)
        return web.Response(text="late")

    app = web.Application()
    for path, handler in (("/moved", moved), ("/final", final), ("/away", away), ("/slow", slow)):
        app.router.add_post(path, handler)
    runner, url = await _serve(app)
    box = SecretBox(KEY)
    sealed = box.seal(SECRET, secret_bound_to("vision", "hook"))
    sender = WebhookSender(0.5, box=box, policy=TargetPolicy.from_setting(LOOPBACK))
    try:
        same = await sender.send(_note(f"{url}/moved", sealed))
        assert same.ok, same.error
        assert (hits["moved"], hits["final"]) == (1, 1)

        away_outcome = await sender.send(_note(f"{url}/away", sealed))
        assert not away_outcome.ok
        assert away_outcome.error == f"redirect to another host refused: {other_url}/elsewhere"
        assert hits["elsewhere"] == 0

        late = await sender.send(_note(f"{url}/slow", sealed))
        assert not late.ok
        assert not late.permanent
        assert late.error == "timed out after 0.5 s"
        assert hits["slow"] == 1
    finally:
        await sender.close()
        await runner.cleanup()
        await other.cleanup()
        await asyncio.sleep(0)
