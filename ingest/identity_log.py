"""Following the identity topic: how ingest knows the API keys without a side database.

At start-up :meth:`IdentityLog.start` replays ``cairn.identity.v1`` from the beginning into an
:class:`~domain.identity.IdentityRegistry` and returns once it has read up to the end offsets it
saw when it started, so a server never serves with a stale key set. A background task then
follows the topic (no consumer group, nothing committed: every ingest replica reads everything),
which makes a newly issued key usable, or a revoked key unusable, about ``fetch_max_wait_ms``
after it is written. :meth:`IdentityLog.wait_for` lets callers await a registry condition, and
:meth:`IdentityLog.catch_up` gives read-your-writes: it returns once every identity event written
before the call (by any replica) is applied, so an admin who issues a key and then revokes it, or
adds a member and then issues them a key, is not refused because this replica lagged behind.

An undecodable record is logged and skipped; identity events were validated when written, so
one would mean a corrupted log, and refusing to serve every team over it would be worse.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from cairn_contract.errors import UnavailableError
from cairn_contract.v1 import events_pb2
from domain.identity import IdentityRegistry
from servicekit.topics import partitions_of

log = structlog.get_logger(__name__)


class IdentityLog:
    def __init__(
        self,
        bootstrap: str,
        topic: str,
        registry: IdentityRegistry | None = None,
        *,
        fetch_max_wait_ms: int = 200,
        pepper: str = "",
    ) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.registry = registry or IdentityRegistry(pepper)
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=fetch_max_wait_ms,
            client_id="cairn-identity-log",
        )
        self._changed = asyncio.Condition()
        self._follower: asyncio.Task[None] | None = None
        self._assigned: list[TopicPartition] = []
        self._positions: dict[TopicPartition, int] = {}  # next offset to read, per partition

    async def start(self, *, follow: bool = True, timeout_s: float = 30.0) -> None:
        """Replay the topic to its current end; then, if ``follow``, keep applying new events."""
        try:
            partitions = await partitions_of(self.bootstrap, self.topic)
            await self._consumer.start()
            if not partitions:
                raise UnavailableError(
                    f"identity topic {self.topic!r} does not exist on {self.bootstrap}; "
                    "create it first (cairn up, or servicekit.topics.ensure_topics)"
                )
            assigned = [TopicPartition(self.topic, p) for p in partitions]
            self._consumer.assign(assigned)
            self._assigned = assigned
            await self._consumer.seek_to_beginning(*assigned)
            end = await self._consumer.end_offsets(assigned)
            async with asyncio.timeout(timeout_s):
                while not await self._caught_up(end):
                    await self._read_once(timeout_ms=500)
        except KafkaError as exc:
            await self._consumer.stop()
            raise UnavailableError(f"cannot read identity topic {self.topic!r}: {exc!r}") from exc
        except BaseException:
            await self._consumer.stop()
            raise
        if follow:
            log.info("identity log replayed", topic=self.topic, events=self.registry.applied)
            self._follower = asyncio.create_task(self._follow(), name="identity-log-follower")

    async def _caught_up(self, end: dict[TopicPartition, int]) -> bool:
        for tp, offset in end.items():
            if await self._consumer.position(tp) < offset:
                return False
        return True

    async def stop(self) -> None:
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower
            self._follower = None
        await self._consumer.stop()

    async def wait_for(
        self, condition: Callable[[IdentityRegistry], bool], timeout_s: float
    ) -> None:
        """Return once ``condition(registry)`` holds; TimeoutError after ``timeout_s``."""
        async with asyncio.timeout(timeout_s), self._changed:
            await self._changed.wait_for(lambda: condition(self.registry))

    async def catch_up(self, timeout_s: float = 5.0) -> None:
        """Return once the registry holds every identity event written before this call (the
        topic's end offsets now); TimeoutError after ``timeout_s``. Needs a following log."""
        end = await self._consumer.end_offsets(self._assigned)
        async with asyncio.timeout(timeout_s), self._changed:
            await self._changed.wait_for(
                lambda: all(self._positions.get(tp, 0) >= offset for tp, offset in end.items())
            )

    async def _follow(self) -> None:
        while True:
            try:
                await self._read_once(timeout_ms=1000)
            except KafkaError as exc:  # the consumer reconnects by itself; keep following
                log.warning("identity log read failed", topic=self.topic, error=repr(exc))
                await asyncio.sleep(1.0)

    async def _read_once(self, *, timeout_ms: int) -> None:
        batches = await self._consumer.getmany(timeout_ms=timeout_ms)
        applied = 0
        for records in batches.values():
            for record in records:
                try:
                    event = events_pb2.Event.FromString(record.value or b"")
                except Exception:  # DecodeError: skip and say so (see module docstring)
                    log.error("undecodable identity record skipped", offset=record.offset)
                    continue
                self.registry.apply(event)
                applied += 1
        positions = {tp: await self._consumer.position(tp) for tp in self._assigned}
        if applied or positions != self._positions:
            self._positions = positions
            async with self._changed:
                self._changed.notify_all()


async def load_identity(bootstrap: str, topic: str) -> IdentityRegistry:
    """The identity state as of now, read once (for operator commands such as ``cairn key``)."""
    identity = IdentityLog(bootstrap, topic, fetch_max_wait_ms=100)
    await identity.start(follow=False)
    await identity.stop()
    return identity.registry
