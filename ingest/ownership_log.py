"""The ownership index ingest checks every write against, kept in a Kafka topic.

Which team owns each run, model and saved view (domain/ownership.py) must survive restarts and be
the same for every ingest replica, without a side database. It lives in ``cairn.ownership.v1``:
one partition, kept forever, one small record per claim (key ``run:<id>``, value team and
creating event id). Only the first event of an aggregate (and its creation) writes a claim, so
the topic grows with the number of runs, not events.

- At start-up :meth:`OwnershipLog.start` replays the topic into an
  :class:`~domain.ownership.AggregateOwners` and then follows it (no consumer group: every replica
  reads everything), like the identity log.
- :meth:`OwnershipLog.record` appends a batch's claims (acks=all) and returns only once the
  follower has read the topic past them. The topic has one partition, so its order is total:
  when two replicas claim one aggregate for different teams at the same moment, the claim
  Kafka wrote first wins, and both replicas see the same winner once they have read past their
  own claim. The service checks the batch again after ``record`` and refuses the loser, before
  any of its events reach the events topic.

:class:`InMemoryOwnership` is the same contract without Kafka, for unit tests of the service.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Protocol

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from cairn_contract.errors import UnavailableError
from domain.ownership import AggregateOwners, Claim
from servicekit.topics import OWNERSHIP, ensure_topics

log = structlog.get_logger(__name__)


class OwnershipStore(Protocol):
    owners: AggregateOwners

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def record(self, claims: Sequence[Claim]) -> None: ...


class InMemoryOwnership:
    def __init__(self) -> None:
        self.owners = AggregateOwners()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def record(self, claims: Sequence[Claim]) -> None:
        self.owners.apply_all(claims)


class OwnershipLog:
    def __init__(self, bootstrap: str, topic: str, *, fetch_max_wait_ms: int = 20) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.owners = AggregateOwners()
        self._tp = TopicPartition(topic, 0)
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=fetch_max_wait_ms,
            client_id="cairn-ownership-log",
        )
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            enable_idempotence=True,
            acks="all",
            linger_ms=0,
            client_id="cairn-ownership-claims",
        )
        self._read_to = 0  # offset of the next record the follower will apply
        self._changed = asyncio.Condition()
        self._follower: asyncio.Task[None] | None = None

    async def start(self, *, timeout_s: float = 30.0) -> None:
        """Create the topic if needed, replay it to its end, then follow it."""
        try:
            await ensure_topics(self.bootstrap, [OWNERSHIP.renamed(self.topic)])
            await self._consumer.start()
            self._consumer.assign([self._tp])
            await self._consumer.seek_to_beginning(self._tp)
            end = (await self._consumer.end_offsets([self._tp]))[self._tp]
            async with asyncio.timeout(timeout_s):
                while self._read_to < end:
                    await self._read_once(timeout_ms=200)
            await self._producer.start()
        except KafkaError as exc:
            await self._stop_clients()
            raise UnavailableError(f"cannot read ownership topic {self.topic!r}: {exc!r}") from exc
        except BaseException:
            await self._stop_clients()
            raise
        log.info("ownership log replayed", topic=self.topic, aggregates=len(self.owners))
        self._follower = asyncio.create_task(self._follow(), name="ownership-log-follower")

    async def stop(self) -> None:
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower
            self._follower = None
        await self._stop_clients()

    async def _stop_clients(self) -> None:
        try:
            await self._producer.stop()
        finally:
            await self._consumer.stop()

    async def record(self, claims: Sequence[Claim], *, timeout_s: float = 10.0) -> None:
        """Append ``claims`` and wait until the follower has applied them (and all before)."""
        if not claims:
            return
        try:
            sent = [
                await self._producer.send(
                    self.topic, key=c.key.encode(), value=c.encode(), partition=0
                )
                for c in claims
            ]
            last = -1
            for delivery in sent:
                metadata = await delivery
                last = max(last, int(metadata.offset))
            async with asyncio.timeout(timeout_s), self._changed:
                await self._changed.wait_for(lambda: self._read_to > last)
        except (KafkaError, TimeoutError) as exc:
            raise UnavailableError(f"cannot record aggregate ownership: {exc!r}") from exc

    async def _follow(self) -> None:
        while True:
            try:
                await self._read_once(timeout_ms=1000)
            except KafkaError as exc:
                log.warning("ownership log read failed", topic=self.topic, error=repr(exc))
                await asyncio.sleep(0.5)

    async def _read_once(self, *, timeout_ms: int) -> None:
        batches = await self._consumer.getmany(self._tp, timeout_ms=timeout_ms)
        for records in batches.values():
            for record in records:
                try:
                    self.owners.apply(Claim.decode(record.key or b"", record.value or b""))
                except UnicodeDecodeError:
                    log.error("undecodable ownership record skipped", offset=record.offset)
                self._read_to = record.offset + 1
        position = await self._consumer.position(self._tp)
        async with self._changed:
            self._read_to = max(self._read_to, position)
            self._changed.notify_all()
