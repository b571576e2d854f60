"""The automation agents of the processors app: evaluate rules, then deliver (docs/automations.md).

Two agents and a timer, added to the same faust app as the projection:

- ``evaluate_rules`` reads the event and identity topics (as the projection does, under its own
  acknowledgement) into a :class:`~domain.rule_book.RuleBook` and sends each due notification
  to the **outbox** topic (keyed by ``delivery_id``), waiting for Kafka's acknowledgement before
  it moves on. It does no network I/O besides Kafka, so it never holds the projection back.
- the ``run.stalled`` timer asks the book for silent running runs every
  ``stall_check_interval_s`` and sends those notifications to the outbox too.
- ``deliver_notifications`` reads the outbox and hands each notification to the
  :class:`~processors.delivery.Deliverer` (retries, backoff, delivery log, dead letter); slow
  receivers only slow this agent.

At start-up the book's rules are loaded from the event archive in ClickHouse (every rule event
before the committed offsets is there, because offsets are committed only after the projection
wrote them); later rule events arrive through the stream. A rule event reaches only the worker
that owns its partition, so every worker also re-reads the rules every
``rules_reload_interval_s`` (keeping the stream's rule events the archive does not have yet).

Run state survives a restart: at start-up the book restores the running runs from the store
(fields, params, tags, latest metrics, the last event each sent) and, from the delivery log,
which ``metric.threshold`` crossings and ``run.stalled`` silences were already notified; a
restored run that looks silent is confirmed with the store before it is notified (another worker
may own it). Notifications evaluated twice still map to the same ``delivery_id`` and the
deliverer skips those already delivered.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Protocol, cast

import faust
import structlog
from clickhouse_connect.driver.client import Client
from faust.types import EventT
from google.protobuf.message import DecodeError

from cairn_contract.v1 import events_pb2
from domain.automations import Notification
from domain.projections import Projection
from domain.rule_book import RuleBook, RunState
from processors.delivery import Deliverer, Progress
from processors.settings import ProcessorsSettings
from query import automations as automation_reads

log = structlog.get_logger(__name__)


class _Writer(Protocol):
    async def write_until_done(self, projection: Projection) -> Any: ...


class ClickHouseDeliveryStore:
    """The delivery log and inbox in ClickHouse: reads through ``query/``, writes by a writer of
    its own (not the projection's: a client runs one insert at a time)."""

    def __init__(self, client_factory: Callable[[], Client], writer: _Writer) -> None:
        self._client_factory = client_factory
        self._client: Client | None = None
        self._writer = writer
        self._write_lock = asyncio.Lock()  # one insert at a time: a client holds one session

    def client(self) -> Client:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def progress(self, delivery_id: str) -> Progress:
        found = automation_reads.delivery_progress(self.client(), delivery_id)
        return Progress(found.attempts, found.status)

    async def record(self, projection: Projection) -> None:
        async with self._write_lock:
            await self._writer.write_until_done(projection)

    def run_states(self, run_ids: list[str] | None = None) -> list[RunState]:
        """Running runs (or these runs) as the store has them, for the book to restore."""
        found = automation_reads.run_activity(self.client(), run_ids=run_ids)
        return [_run_state(a) for a in found]

    def attempted(self, delivery_ids: list[str]) -> set[str]:
        return automation_reads.notified_ids(self.client(), delivery_ids)

    def rule_events(self) -> list[events_pb2.Event]:
        events = []
        for payload in automation_reads.rule_event_payloads(self.client()):
            event = events_pb2.Event()
            event.ParseFromString(payload)
            events.append(event)
        return events


def _run_state(a: automation_reads.RunActivity) -> RunState:
    return RunState(
        a.run_id,
        a.team,
        a.project,
        attributes={**a.attributes, "run_id": a.run_id, "team": a.team, "project": a.project},
        params={k: _number(v) for k, v in a.params.items()},
        tags=dict(a.tags),
        metrics=dict(a.metrics),
        status=a.status,
        last_seen_ns=a.last_seen_ns,
        last_event_id=a.last_event_id,
    )


def _number(text: str) -> float | str:
    """Params come back from the store as text; numbers compare as numbers again."""
    try:
        return float(text)
    except ValueError:
        return text


def _evaluate(
    book: RuleBook, value: bytes, rule_events: list[events_pb2.Event]
) -> list[Notification]:
    event = events_pb2.Event()
    try:
        event.ParseFromString(value)
    except DecodeError:
        return []  # the projection dead-letters it
    if (event.WhichOneof("payload") or "").startswith("rule_"):
        rule_events.append(event)  # kept until the archive has it (see reload_rules)
    try:
        return book.apply(event)
    except Exception as exc:  # a rule that cannot be evaluated must not stop the others
        log.error("rule evaluation failed", error=repr(exc)[:500])
        return []


def install(
    app: faust.App,
    settings: ProcessorsSettings,
    source: Any,
    store: ClickHouseDeliveryStore,
    deliverer: Deliverer | None = None,
) -> RuleBook:
    """Add the automation agents and timer to ``app``; returns the (shared) rule book."""
    book = RuleBook()
    outbox = app.topic(settings.automations_topic, key_serializer="raw", value_serializer="raw")
    dead = app.topic(
        settings.automations_dead_letter_topic, key_serializer="raw", value_serializer="raw"
    )
    loaded = asyncio.Event()
    recent_rule_events: list[events_pb2.Event] = []  # seen in the stream, maybe not archived yet

    async def send_dead_letter(note: Notification, reason: str) -> None:
        headers = [("cairn-dlq-reason", reason.encode()[:1000])]
        delivery = await dead.send(
            key=note.delivery_id.encode(), value=note.to_record(), headers=headers
        )
        await delivery

    the_deliverer = deliverer or Deliverer(settings, store, send_dead_letter)

    async def to_outbox(notes: list[Notification]) -> None:
        for note in notes:
            sent = await outbox.send(key=note.delivery_id.encode(), value=note.to_record())
            await sent  # durable before the triggering event is acknowledged
            log.info(
                "notification due",
                delivery_id=note.delivery_id,
                rule=note.rule,
                trigger=note.trigger,
                action=note.action.kind,
            )

    async def load_rules() -> None:
        backoff = 0.25
        while True:
            try:
                events = await asyncio.to_thread(store.rule_events)
            except Exception as exc:  # the store may still be starting: keep trying
                log.warning("loading rules failed; retrying", error=str(exc)[:300])
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            book.load_rules(events)
            await restore_runs()
            loaded.set()
            log.info("automation rules loaded", rules=len(book.rules))
            return

    async def restore_runs() -> None:
        try:
            states = await asyncio.to_thread(store.run_states)
            for state in states:
                book.restore(state)
            attempted = await asyncio.to_thread(store.attempted, book.restore_candidates())
        except Exception as exc:  # the stream rebuilds what it can; never block evaluation
            log.warning("restoring run state failed", error=str(exc)[:300])
            return
        book.restore_marks(attempted)
        log.info("run state restored", runs=len(states), notified=len(attempted))

    @app.timer(settings.rules_reload_interval_s)  # type: ignore[untyped-decorator]
    async def reload_rules() -> None:
        if not loaded.is_set():
            return
        try:
            archived = await asyncio.to_thread(store.rule_events)
        except Exception as exc:
            log.warning("reloading rules failed", error=str(exc)[:300])
            return
        known = {e.envelope.event_id for e in archived}
        recent_rule_events[:] = [e for e in recent_rule_events if e.envelope.event_id not in known]
        book.load_rules([*archived, *recent_rule_events])

    @app.agent(source, name="evaluate_rules")
    async def evaluate_rules(stream: faust.StreamT[bytes]) -> None:
        await load_rules()
        # Acknowledged explicitly once the batch's notifications are in the outbox (a plain
        # ``async for`` would leave the last event of a burst unacknowledged until the next).
        batches = cast("faust.Stream[bytes]", stream).noack_take(500, within=0.2)
        async for batch in batches:
            events = cast("list[EventT[bytes]]", list(batch))
            for item in events:
                await to_outbox(_evaluate(book, item.value, recent_rule_events))
            for item in events:
                await stream.ack(item)

    @app.timer(settings.stall_check_interval_s)  # type: ignore[untyped-decorator]
    async def check_stalled() -> None:
        if not loaded.is_set():
            return
        suspects = book.stall_suspects(time.time_ns())
        if suspects:
            try:
                found = await asyncio.to_thread(store.run_states, suspects)
            except Exception as exc:  # confirm next time rather than notify on stale state
                log.warning("confirming silent runs failed", error=str(exc)[:300])
                return
            by_id = {s.run_id: s for s in found}
            for run_id in suspects:
                book.refresh(run_id, by_id.get(run_id))
        await to_outbox(book.stalled(time.time_ns()))

    @app.agent(outbox, name="deliver_notifications", concurrency=settings.delivery_concurrency)
    async def deliver_notifications(stream: faust.StreamT[bytes]) -> None:
        async for value in stream:
            note = Notification.from_record(value)
            status = await the_deliverer.deliver(note)
            log.info("notification delivered", delivery_id=note.delivery_id, status=status)

    return book
