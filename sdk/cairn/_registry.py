"""The model registry's plumbing: appending model events through ingest, and where reads go.

Writes are events on the model's aggregate (``aggregate_id`` = the model's name), appended with
ingest's unary ``Append`` under the caller's API key, so they obey the same authentication,
validation and permission rules as every other write. A retried append re-sends the same event
ids, and the store deduplicates on them.

Reads (resolving ``churn@production``, waiting for a version's number, the report) go through
:class:`RegistryReads`, answered by the query service (``cairn.v1.Query`` model RPCs, through
:mod:`cairn._registry_client`); nothing here talks to ClickHouse. :func:`use_reads` swaps the
implementation (unit tests).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from cairn._ids import uuid7
from cairn.errors import (
    AlreadyExistsError,
    AuthenticationError,
    CairnError,
    ConfigError,
    FailedPreconditionError,
    NotFoundError,
    PermissionDeniedError,
    UnavailableError,
    ValidationError,
)

if TYPE_CHECKING:
    from google.protobuf.message import Message

    from cairn.config import Settings

APPEND_TIMEOUT_S = 30.0
APPEND_ATTEMPTS = 5


@dataclass(frozen=True)
class ModelVersion:
    """One version of a registered model, as the registry knows it."""

    name: str
    version: int  # 1, 2, 3, ... per model, assigned by the registry
    run_id: str  # the run that built it
    sha256: str  # of the file, or of the directory's manifest
    uri: str  # where the artifact store keeps it
    aliases: tuple[str, ...] = ()
    stage: str = "none"  # none / staging / production / archived
    artifact_name: str = ""
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    team: str = ""
    project: str = ""
    created_by: str = ""
    created_at: datetime | None = None


@dataclass(frozen=True)
class ModelInfo:
    """A registered model with its version count and aliases."""

    name: str
    team: str
    project: str
    description: str
    versions: int
    latest_version: int
    aliases: dict[str, int]  # alias -> version


@dataclass(frozen=True)
class AliasMove:
    """One alias move (or removal) or stage change, with who, when and why."""

    kind: str  # alias / stage
    name: str
    version: int  # 0: the alias was removed
    removed: bool
    reason: str
    actor: str
    occurred_at: datetime


class RegistryReads(Protocol):
    """What the SDK reads from the registry; the query service answers it."""

    def version_created_by(self, model: str, event_id: str) -> ModelVersion | None:
        """The version a model_version_created event became, once it is projected."""
        ...

    def resolve(self, model: str, selector: int | str | None) -> ModelVersion:
        """By number, alias/stage name, or (None) the newest version that is not archived."""
        ...

    def versions(self, model: str) -> list[ModelVersion]:
        """Newest first; empty when the model has none (or is not visible)."""
        ...

    def models(self) -> list[ModelInfo]: ...

    def artifact(self, run_id: str, name: str) -> tuple[str, str]:
        """(sha256, uri) of the artifact ``name`` that run ``run_id`` logged."""
        ...

    def alias_history(self, model: str) -> list[AliasMove]: ...

    def report(self, model: str, selector: int | str | None, fmt: str) -> str: ...


_reads: RegistryReads | None = None


def use_reads(reads: RegistryReads | None) -> None:
    """Answer registry reads with ``reads`` (``None``: the query service again)."""
    global _reads
    _reads = reads


def reads_for(settings: Settings) -> RegistryReads:
    """The reads installed by :func:`use_reads`, else the query service at the ingest address."""
    if _reads is not None:
        return _reads
    from cairn._registry_client import GrpcRegistryReads

    return GrpcRegistryReads(settings)


def wait_for_version(
    reads: RegistryReads, model: str, event_id: str, timeout_s: float
) -> ModelVersion:
    """Poll until the registry has numbered the version created by ``event_id``."""
    deadline = time.monotonic() + timeout_s
    delay = 0.05
    while True:
        found = reads.version_created_by(model, event_id)
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise UnavailableError(
                f"model {model!r}: the new version (event {event_id}) was accepted but is not "
                f"numbered after {timeout_s:.0f} s; it will appear once the processors catch up",
                field="version",
                rule="projection_lag",
            )
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)


def model_event(settings: Settings, model: str, field_name: str, payload: Message) -> Any:
    """An event on ``model``'s aggregate, in the settings' team and project."""
    from cairn.v1 import envelope_pb2, events_pb2

    event = events_pb2.Event(
        envelope=envelope_pb2.Envelope(
            event_id=uuid7(),
            schema_version=1,
            aggregate_kind=envelope_pb2.AGGREGATE_KIND_MODEL,
            aggregate_id=model,
            occurred_at_ns=time.time_ns(),
            team=settings.team,
            project=settings.project,
        )
    )
    getattr(event, field_name).CopyFrom(payload)
    return event


_ERRORS: dict[str, type[CairnError]] = {
    "INVALID_ARGUMENT": ValidationError,
    "UNAUTHENTICATED": AuthenticationError,
    "PERMISSION_DENIED": PermissionDeniedError,
    "NOT_FOUND": NotFoundError,
    "ALREADY_EXISTS": AlreadyExistsError,
    "FAILED_PRECONDITION": FailedPreconditionError,
}


def append(settings: Settings, events: Sequence[Any]) -> None:
    """Append ``events`` as one batch; return once ingest acknowledged them (Kafka has them).
    Retries while ingest is unreachable (going round the replicas ``ingest_url`` lists), with
    the same event ids, so a retry of a batch that did arrive is deduplicated by the store."""
    import grpc

    from cairn.v1 import events_pb2, ingest_pb2_grpc

    if not settings.api_key:
        raise ConfigError(
            "no API key: run `cairn up` (local stack), set CAIRN_API_KEY or pass api_key=",
            field="api_key",
        )
    target, tls = settings.target()
    replicas = target.split(",")  # ingest replicas: the next one is tried after a failure
    metadata = (("authorization", f"Bearer {settings.api_key}"),)
    batch = events_pb2.EventBatch(events=list(events))
    for attempt in range(APPEND_ATTEMPTS):
        address = replicas[attempt % len(replicas)]
        channel = (
            grpc.secure_channel(address, grpc.ssl_channel_credentials())
            if tls
            else grpc.insecure_channel(address)
        )
        try:
            ingest_pb2_grpc.IngestStub(channel).Append(
                batch, metadata=metadata, timeout=APPEND_TIMEOUT_S
            )
            return
        except grpc.RpcError as exc:
            code = exc.code().name
            details = exc.details() or code
            if code not in ("UNAVAILABLE", "DEADLINE_EXCEEDED"):
                raise _ERRORS.get(code, CairnError)(details) from None
            if attempt + 1 == APPEND_ATTEMPTS:
                raise UnavailableError(f"ingest at {target} is unreachable: {details}") from None
            time.sleep(0.5 * 2 ** (attempt // len(replicas)))
        finally:
            channel.close()
