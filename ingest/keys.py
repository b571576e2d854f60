"""Operator actions on API keys, written straight to the identity topic.

These run where the broker is reachable (an operator's shell, ``cairn up``), not through ingest:
they are how the first key of a fresh installation comes to exist. The events are validated by
the same rules as ingest applies and written by the same publisher code (idempotent producer,
``acks=all``); each function returns only after Kafka acknowledged. A running ingest picks the
change up from the topic within about a second.

Issuing a key for a team that has no ``TeamCreated`` event yet creates the team first.
"""

from __future__ import annotations

import getpass
import time
from collections.abc import Sequence

from cairn_contract.envelopes import new_envelope
from cairn_contract.errors import ConfigError, NotFoundError
from cairn_contract.v1 import envelope_pb2, events_pb2, identity_pb2
from domain.identity import KeyRecord, Role, generate_api_key
from domain.validation import BatchValidator
from ingest.identity_log import load_identity
from ingest.publisher import KafkaPublisher, records_for
from servicekit.topics import EVENTS_TOPIC, IDENTITY_TOPIC


def operator_actor() -> envelope_pb2.Actor:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        user = "operator"
    return envelope_pb2.Actor(kind=envelope_pb2.ACTOR_KIND_SERVICE, id=f"cli.{user}")


def _team_event(team: str) -> events_pb2.Event:
    now = time.time_ns()
    return events_pb2.Event(
        envelope=new_envelope(
            envelope_pb2.AGGREGATE_KIND_TEAM,
            team,
            team=team,
            occurred_at_ns=now,
            received_at_ns=now,
            actor=operator_actor(),
        )
    )


async def append_identity_events(
    bootstrap: str, topic: str, events: Sequence[events_pb2.Event]
) -> None:
    """Validate ``events`` like ingest would and write them to the identity topic, in order."""
    batch = events_pb2.EventBatch(events=events)
    validator = BatchValidator()
    validator.check(batch, now_ns=time.time_ns())
    records = records_for(validator.encode(batch), events_topic=EVENTS_TOPIC, identity_topic=topic)
    publisher = KafkaPublisher(
        bootstrap,
        max_in_flight_bytes=16 << 20,
        linger_ms=0,
        max_batch_bytes=1 << 20,
        max_request_bytes=8 << 20,
        compression=None,
        request_timeout_ms=30_000,
        client_id="cairn-key-cli",
    )
    await publisher.start()
    try:
        await (await publisher.submit(records))
    finally:
        await publisher.stop()


async def issue_key_directly(
    bootstrap: str,
    *,
    team: str,
    role: Role | str,
    name: str = "",
    user_id: str = "",
    topic: str = IDENTITY_TOPIC,
    pepper: str = "",
) -> str:
    """Issue a new key for ``team`` and return it; only its hash (keyed with the installation's
    ``pepper``, the same ingest verifies with) is stored anywhere."""
    try:
        role = Role(role)
    except ValueError:
        raise ConfigError(f"role must be writer or admin, got {role!r}", field="role") from None
    BatchValidator().check_slug(team, "team")
    registry = await load_identity(bootstrap, topic)
    events = []
    if team not in registry.teams:
        created = _team_event(team)
        created.team_created.display_name = team
        events.append(created)
    new = generate_api_key(pepper)
    issued = _team_event(team)
    issued.api_key_issued.CopyFrom(
        identity_pb2.ApiKeyIssued(
            key_id=new.key_id,
            key_sha256=new.sha256,
            role=role.proto,
            name=name or f"{role}-{new.key_id}",
            principal_kind=envelope_pb2.ACTOR_KIND_USER
            if user_id
            else envelope_pb2.ACTOR_KIND_SERVICE,
            user_id=user_id,
        )
    )
    events.append(issued)
    await append_identity_events(bootstrap, topic, events)
    return new.key


async def revoke_key_directly(
    bootstrap: str, key_id: str, *, reason: str = "", topic: str = IDENTITY_TOPIC
) -> KeyRecord:
    registry = await load_identity(bootstrap, topic)
    record = registry.find_key(key_id)
    if record is None:
        raise NotFoundError(f"no API key with id {key_id!r}", field="key_id")
    revoked = _team_event(record.team)
    revoked.api_key_revoked.CopyFrom(
        identity_pb2.ApiKeyRevoked(key_id=key_id, reason=reason or "revoked")
    )
    await append_identity_events(bootstrap, topic, [revoked])
    return record


async def list_keys(
    bootstrap: str, *, team: str | None = None, topic: str = IDENTITY_TOPIC
) -> list[KeyRecord]:
    registry = await load_identity(bootstrap, topic)
    return sorted(registry.api_keys(team), key=lambda r: (r.team, r.issued_at_ns))
