"""Cairn's Kafka topics, declared once, and an idempotent ``ensure_topics`` that creates them.

- ``cairn.events.v1``: every tracking event, keyed by aggregate id (run, model, project ...), so
  one aggregate's events stay in one partition, in order. Infinite retention: it is the source of
  truth and every read table can be rebuilt from it.
- ``cairn.identity.v1``: teams, members, API keys, projects; keyed by team. One partition, so
  replaying it (ingest does at start-up) sees one total order. Infinite retention.
- ``cairn.events.dlq.v1``: events a processor could not project, with the reason in headers.
- ``cairn.ownership.v1``: which team owns each run, model and saved view; one partition, kept
  forever (ingest/ownership_log.py).
- ``cairn.automations.v1``: the outbox of due automation notifications, keyed by delivery id;
  ``cairn.automations.v1.dlq``: notifications given up on after their last attempt. Both are
  created by the processors (their names follow the events topic; docs/automations.md).

``max.message.bytes`` bounds one record batch; it is the largest event ingest accepts
(``Limits.max_event_bytes``) plus room for headers and batch overhead. Topics are created
explicitly (the broker has auto-creation off) and existing topics are left as they are:
``ensure_topics`` never changes partitions or configs of a topic that exists.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, replace

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, for_code

from cairn_contract.errors import UnavailableError
from cairn_contract.limits import MIB, Limits

EVENTS_TOPIC = "cairn.events.v1"
IDENTITY_TOPIC = "cairn.identity.v1"
DLQ_TOPIC = "cairn.events.dlq.v1"
OWNERSHIP_TOPIC = "cairn.ownership.v1"

MAX_MESSAGE_BYTES = Limits().max_event_bytes + 1 * MIB
_TOPIC_ALREADY_EXISTS = 36


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int = 1
    configs: tuple[tuple[str, str], ...] = ()

    def renamed(self, name: str) -> TopicSpec:
        """The same topic under another name (tests use random names for isolation)."""
        return replace(self, name=name)


_KEEP_FOREVER = (
    ("retention.ms", "-1"),
    ("retention.bytes", "-1"),
    ("cleanup.policy", "delete"),
    ("min.insync.replicas", "1"),
    ("max.message.bytes", str(MAX_MESSAGE_BYTES)),
)

EVENTS = TopicSpec(EVENTS_TOPIC, partitions=12, configs=_KEEP_FOREVER)
IDENTITY = TopicSpec(IDENTITY_TOPIC, partitions=1, configs=_KEEP_FOREVER)
DLQ = TopicSpec(DLQ_TOPIC, partitions=3, configs=_KEEP_FOREVER)
_KEEP_A_MONTH = (
    ("retention.ms", str(30 * 24 * 3600 * 1000)),
    ("cleanup.policy", "delete"),
    ("min.insync.replicas", "1"),
)
AUTOMATIONS = TopicSpec("cairn.automations.v1", partitions=3, configs=_KEEP_A_MONTH)
AUTOMATIONS_DLQ = TopicSpec("cairn.automations.v1.dlq", partitions=1, configs=_KEEP_FOREVER)
# Which team owns each run, model and view (ingest/ownership_log.py). One partition: one total
# order decides races between ingest replicas.
OWNERSHIP = TopicSpec(OWNERSHIP_TOPIC, partitions=1, configs=_KEEP_FOREVER)
ALL_TOPICS: tuple[TopicSpec, ...] = (EVENTS, IDENTITY, DLQ, OWNERSHIP)


def ownership_topic_for(events_topic: str) -> str:
    """The ownership topic paired with an events topic (tests rename topics for isolation)."""
    if events_topic == EVENTS_TOPIC:
        return OWNERSHIP_TOPIC
    return f"{events_topic}.ownership"


async def ensure_topics(
    bootstrap: str, specs: Iterable[TopicSpec], *, timeout_ms: int = 30_000
) -> list[str]:
    """Create the topics that do not exist yet; return the names created.

    Raises UnavailableError when the broker cannot be reached or refuses a topic for any reason
    other than that it already exists.
    """
    wanted = list(specs)
    if not wanted:
        return []
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=timeout_ms)
    try:
        await admin.start()
        response = await admin.create_topics(
            [
                NewTopic(s.name, s.partitions, s.replication_factor, topic_configs=dict(s.configs))
                for s in wanted
            ],
            timeout_ms=timeout_ms,
        )
        created, failures = [], []
        for error in response.topic_errors:
            name, code = error[0], error[1]
            if code == 0:
                created.append(name)
            elif code != _TOPIC_ALREADY_EXISTS:
                message = error[2] if len(error) > 2 and error[2] else for_code(code).__name__
                failures.append(f"{name}: {message}")
        if failures:
            raise UnavailableError(f"Kafka at {bootstrap} refused topics: {'; '.join(failures)}")
        await _until_led(admin, [s.name for s in wanted], timeout_ms / 1000)
    except KafkaError as exc:
        raise UnavailableError(f"cannot create topics on Kafka at {bootstrap}: {exc!r}") from exc
    finally:
        await admin.close()
    return created


async def partitions_of(bootstrap: str, topic: str, *, timeout_ms: int = 10_000) -> list[int]:
    """The partition ids of ``topic`` ([] if it does not exist), from fresh cluster metadata."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=timeout_ms)
    try:
        await admin.start()
        (described,) = await admin.describe_topics([topic])
    except KafkaError as exc:
        raise UnavailableError(f"cannot read metadata from Kafka at {bootstrap}: {exc!r}") from exc
    finally:
        await admin.close()
    if described["error_code"] != 0:
        return []
    return sorted(p["partition"] for p in described["partitions"])


async def _until_led(admin: AIOKafkaAdminClient, names: list[str], timeout_s: float) -> None:
    """Wait until every partition of the topics has a leader, so producers and consumers that
    start right after ``ensure_topics`` find them in the cluster metadata."""
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                described = await admin.describe_topics(names)
                ready = {
                    t["topic"]
                    for t in described
                    if t["error_code"] == 0
                    and t["partitions"]
                    and all(p["leader"] >= 0 for p in t["partitions"])
                }
                if ready >= set(names):
                    return
                await asyncio.sleep(0.05)  # metadata propagation has no notification to await
    except TimeoutError:
        raise UnavailableError(f"topics {names} have no leaders after {timeout_s:g}s") from None
