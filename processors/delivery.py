"""Delivering one notification: webhook, email or inbox, with retries and a delivery log.

:class:`Deliverer` is at-least-once: it looks up how far the delivery got (the log in ClickHouse),
does nothing more for one already delivered or dead, and otherwise attempts it until it succeeds
or the last attempt fails (then it is dead-lettered). Every attempt is logged with its number,
status, HTTP status and error before the next one starts; the outbox message is acknowledged
only after :meth:`Deliverer.deliver` returns. A worker killed between a successful send and its
log write sends once more after the restart: at most one duplicate, with the same
``delivery_id`` (receivers de-duplicate on it).

Webhooks: an HTTP POST of :meth:`Notification.body_bytes` to the rule's URL, signed with
``X-Cairn-Signature: sha256=<hex HMAC-SHA256 of the body with the rule's secret>``, a timeout,
and redirects followed only within the same origin (scheme, host, port) and at most three times:
a notification never goes anywhere the rule did not name. 2xx is success; anything else, a
timeout or a connection error is a failed attempt.

Every connection goes only to addresses :class:`~domain.webhook_targets.TargetPolicy` allows: an
IP literal is checked before the request, a host name on the addresses it resolves to, by the
resolver the connection then uses (so a name re-pointed at an internal address after the rule was
created, DNS rebinding, is refused too). A refused target and a secret that does not open are
permanent failures: dead at once, without retries.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import json
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import urljoin, urlsplit

import aiohttp
import aiosmtplib
import structlog
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from domain.automations import Notification, secret_bound_to
from domain.projections import Projection
from domain.webhook_targets import RULE as TARGET_RULE
from domain.webhook_targets import TargetPolicy
from processors.settings import ProcessorsSettings
from servicekit.secret_box import SealError, SecretBox, box_from

log = structlog.get_logger(__name__)

SIGNATURE_HEADER = "X-Cairn-Signature"
MAX_REDIRECTS = 3
MAX_ERROR_CHARS = 500


def sign(body: bytes, secret: str) -> str:
    """The ``X-Cairn-Signature`` value for ``body``: ``sha256=<hex HMAC-SHA256>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Outcome:
    ok: bool
    http_status: int = 0
    error: str = ""
    permanent: bool = False  # retrying cannot help (a refused target, an unopenable secret)


class InternalTargetError(OSError):
    """The webhook's host resolved to an address the policy refuses."""


class CheckedResolver(AbstractResolver):
    """aiohttp's resolver, refusing names that resolve to any internal address the policy does
    not allow; the connection uses exactly the addresses checked here."""

    def __init__(self, policy: TargetPolicy) -> None:
        self._inner = DefaultResolver()
        self._policy = policy

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        why = self._policy.check_addresses(host, [r["host"] for r in found])
        if why:
            raise InternalTargetError(why)
        return found

    async def close(self) -> None:
        await self._inner.close()


@dataclass(frozen=True)
class Progress:
    attempts: int
    status: str


class DeliveryStore(Protocol):
    """Where the delivery log and inbox live (ClickHouse in production)."""

    def progress(self, delivery_id: str) -> Progress: ...

    async def record(self, projection: Projection) -> None: ...


class WebhookSender:
    def __init__(
        self,
        timeout_s: float,
        *,
        box: SecretBox | None = None,
        policy: TargetPolicy | None = None,
    ) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._box = box
        self._policy = policy or TargetPolicy()

    def signing_secret(self, note: Notification) -> str:
        """The rule's secret: opened from its sealed form (bound to the rule), or a plain secret
        of a rule written before secrets were sealed."""
        action = note.action
        if not action.sealed:
            return action.secret
        if self._box is None:
            raise SealError("the processors have no CAIRN_AUTOMATIONS_SECRET_KEY to open it")
        return self._box.open(
            base64.b64decode(action.sealed), secret_bound_to(note.team, note.rule)
        )

    async def send(self, note: Notification) -> Outcome:
        try:
            secret = self.signing_secret(note)
        except SealError as exc:
            return Outcome(False, 0, f"webhook secret: {exc}", permanent=True)
        if self._session is None:
            connector = aiohttp.TCPConnector(
                resolver=CheckedResolver(self._policy), use_dns_cache=False
            )
            self._session = aiohttp.ClientSession(timeout=self._timeout, connector=connector)
        body = note.body_bytes()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "cairn-automations/1",
            SIGNATURE_HEADER: sign(body, secret),
            "X-Cairn-Delivery": note.delivery_id,
            "X-Cairn-Trigger": note.trigger,
        }
        url = note.action.target
        origin = _origin(url)
        try:
            for _ in range(MAX_REDIRECTS + 1):
                refused = self._literal_refusal(url)
                if refused is not None:
                    return refused
                async with self._session.post(
                    url, data=body, headers=headers, allow_redirects=False
                ) as response:
                    status = response.status
                    if status in (301, 302, 303, 307, 308) and "Location" in response.headers:
                        target = urljoin(url, response.headers["Location"])
                        if _origin(target) != origin:
                            return Outcome(
                                False, status, f"redirect to another host refused: {target[:200]}"
                            )
                        url = target
                        continue
                    if 200 <= status < 300:
                        return Outcome(True, status)
                    text = (await response.text(errors="replace"))[:200]
                    return Outcome(False, status, f"HTTP {status}: {text}")
            return Outcome(False, 0, f"more than {MAX_REDIRECTS} redirects")
        except TimeoutError:
            return Outcome(False, 0, f"timed out after {self._timeout.total:g} s")
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, InternalTargetError):
                return _refused(str(exc.os_error))
            return Outcome(False, 0, f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS])
        except aiohttp.ClientError as exc:
            return Outcome(False, 0, f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS])

    def _literal_refusal(self, url: str) -> Outcome | None:
        host = (urlsplit(url).hostname or "").strip("[]")
        try:
            ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return None  # a name: the resolver checks what it resolves to
        why = self._policy.refusal(host)
        return _refused(why) if why else None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def _refused(why: str) -> Outcome:
    return Outcome(False, 0, f"webhook.url refused: {why} (rule {TARGET_RULE})", permanent=True)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port


class EmailSender:
    def __init__(self, settings: ProcessorsSettings) -> None:
        self.settings = settings

    async def send(self, note: Notification) -> Outcome:
        s = self.settings
        if not s.smtp_host:
            return Outcome(False, 0, "email is not configured (set CAIRN_SMTP_HOST)")
        message = EmailMessage()
        message["From"] = s.smtp_from
        message["To"] = note.action.target
        subject = " ".join(f"[Cairn] {note.trigger}: {note.text}".split())  # one line, always
        message["Subject"] = subject[:150]
        message["X-Cairn-Delivery"] = note.delivery_id
        body = json.dumps(note.body(), indent=2, sort_keys=True)
        message.set_content(f"{note.text}\n\nRule {note.team}/{note.rule}\n\n{body}\n")
        try:
            await aiosmtplib.send(
                message,
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_user or None,
                password=s.smtp_password or None,
                start_tls=s.smtp_starttls,
                use_tls=s.smtp_ssl,
                timeout=s.delivery_timeout_s,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return Outcome(False, 0, f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS])
        return Outcome(True)


class Deliverer:
    """Delivers notifications with retries, logging every attempt (see the module docstring)."""

    def __init__(
        self,
        settings: ProcessorsSettings,
        store: DeliveryStore,
        dead_letter: Callable[[Notification, str], Awaitable[None]],
        *,
        webhook: WebhookSender | None = None,
        email: EmailSender | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.dead_letter = dead_letter
        self.webhook = webhook or WebhookSender(
            settings.delivery_timeout_s,
            box=box_from(settings.automations_secret_key),
            policy=TargetPolicy.from_setting(settings.webhook_allowed_networks),
        )
        self.email = email or EmailSender(settings)
        # One delivery at a time per id: a notification evaluated twice (after a restart) and
        # queued twice is delivered by the first and skipped by the second.
        self._locks: dict[str, asyncio.Lock] = {}

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based): exponential, capped."""
        s = self.settings
        return float(min(s.delivery_backoff_s * 2 ** (attempt - 1), s.delivery_max_backoff_s))

    async def deliver(self, note: Notification) -> str:
        """Deliver ``note`` unless already done; return the final status."""
        lock = self._locks.setdefault(note.delivery_id, asyncio.Lock())
        try:
            async with lock:
                return await self._deliver(note)
        finally:
            if not lock.locked() and self._locks.get(note.delivery_id) is lock:
                del self._locks[note.delivery_id]

    async def _deliver(self, note: Notification) -> str:
        progress = await self._progress(note.delivery_id)
        if progress.status in ("delivered", "dead"):
            log.info("delivery already done", delivery_id=note.delivery_id, status=progress.status)
            return progress.status
        attempt = progress.attempts
        while True:
            attempt += 1
            outcome = await self._attempt(note)
            if outcome.ok:
                status = "delivered"
            elif outcome.permanent or attempt >= self.settings.delivery_attempts:
                status = "dead"
            else:
                status = "retrying"
            await self._log(note, attempt, status, outcome)
            if status == "retrying":
                log.warning(
                    "delivery failed; retrying",
                    delivery_id=note.delivery_id,
                    attempt=attempt,
                    error=outcome.error,
                )
                await asyncio.sleep(self.backoff(attempt))
                continue
            if status == "dead":
                await self.dead_letter(note, outcome.error)
            return status

    async def _progress(self, delivery_id: str) -> Progress:
        backoff = 0.25
        while True:
            try:
                return await asyncio.to_thread(self.store.progress, delivery_id)
            except Exception as exc:  # the store may be restarting: never guess, wait for it
                log.warning("reading delivery progress failed", error=str(exc)[:300])
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _attempt(self, note: Notification) -> Outcome:
        kind = note.action.kind
        if kind == "webhook":
            return await self.webhook.send(note)
        if kind == "email":
            return await self.email.send(note)
        projection = Projection()
        projection.buffers["inbox"].append(
            user_id=note.action.target,
            team=note.team,
            item_id=note.delivery_id,
            rule=note.rule,
            trigger=note.trigger,
            text=note.text,
            subject=json.dumps(dict(note.subject), sort_keys=True),
            occurred_at=note.occurred_at_ns,
        )
        await self.store.record(projection)
        return Outcome(True)

    async def _log(self, note: Notification, attempt: int, status: str, outcome: Outcome) -> None:
        projection = Projection()
        projection.buffers["deliveries"].append(
            delivery_id=note.delivery_id,
            team=note.team,
            rule=note.rule,
            trigger=note.trigger,
            event_id=note.event_id,
            action_kind=note.action.kind,
            target=note.action.target,
            attempt=attempt,
            status=status,
            http_status=outcome.http_status,
            error=outcome.error,
            text=note.text,
            attempted_at=time.time_ns(),
        )
        await self.store.record(projection)

    async def close(self) -> None:
        await self.webhook.close()
