"""Appending the portal's events through ingest, with the portal's admin service keys.

An API key belongs to one team and ingest refuses events for any other team (``team_scope``),
so the portal holds one admin *service* key per team it writes for (:class:`KeyRing`): from
``CAIRN_PORTAL_API_KEY`` and from a keys file the local stack and the demo keep up to date.
:class:`IngestWriter` groups a batch by team and appends each group with that team's key; the
events carry the signed-in person in ``actor.on_behalf_of`` (see :mod:`ui.events`).

:class:`EventSink` is the small interface pages depend on; tests pass a recording fake.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from cairn_contract.errors import (
    ERROR_DOMAIN,
    CairnError,
    ConfigError,
    PermissionDeniedError,
    UnavailableError,
    error_for_code,
)
from cairn_contract.v1 import events_pb2, ingest_pb2_grpc

MAX_EVENTS_PER_APPEND = 2_000
APPEND_TIMEOUT_S = 30.0


class WriteError(CairnError):
    """Ingest refused a batch (or could not be reached); ``message`` is ingest's explanation."""


@dataclass(frozen=True)
class WriteResult:
    events: int
    teams: tuple[str, ...]


class EventSink(Protocol):
    """Where the portal's events go."""

    def append(self, events: Sequence[events_pb2.Event]) -> WriteResult:
        """Append ``events`` durably (ingest acknowledged after Kafka did) or raise WriteError."""
        ...


def key_id_of(key: str) -> str:
    """The public key id inside ``cairn_<key id>_<secret>`` ('' if the text is no Cairn key)."""
    prefix, _, rest = key.partition("_")
    key_id, sep, secret = rest.partition("_")
    return key_id if prefix == "cairn" and sep and key_id and secret else ""


@dataclass
class KeyRing:
    """The portal's keys by team: the configured ones, the keys file (re-read when it changes)
    and bare keys whose team ``resolve_team(key_id)`` finds."""

    configured: Mapping[str, str] = field(default_factory=dict)
    keys_file: Path | None = None
    unscoped: Sequence[str] = ()
    resolve_team: Callable[[str], str | None] | None = None
    _file_keys: dict[str, str] = field(default_factory=dict)
    _file_stamp: tuple[float, int] | None = None
    _resolved: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _reload_file(self) -> None:
        if self.keys_file is None:
            return
        try:
            stat = self.keys_file.stat()
        except FileNotFoundError:
            self._file_keys, self._file_stamp = {}, None
            return
        stamp = (stat.st_mtime, stat.st_size)
        if stamp == self._file_stamp:
            return
        try:
            data = json.loads(self.keys_file.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the portal keys file {self.keys_file}: {exc}") from exc
        keys = data.get("keys", data) if isinstance(data, dict) else {}
        self._file_keys = {str(t): str(k) for t, k in keys.items() if isinstance(k, str)}
        self._file_stamp = stamp

    def _resolve_unscoped(self) -> None:
        if self.resolve_team is None:
            return
        for key in self.unscoped:
            if key in self._resolved.values():
                continue
            team = self.resolve_team(key_id_of(key))
            if team:
                self._resolved[team] = key

    def keys(self) -> dict[str, str]:
        """Every team the portal can write for, with its key (configured keys win)."""
        with self._lock:
            self._reload_file()
            self._resolve_unscoped()
            return {**self._file_keys, **self._resolved, **self.configured}

    def key_for(self, team: str) -> str:
        key = self.keys().get(team)
        if not key:
            raise PermissionDeniedError(
                f"the portal has no API key for team {team!r}: an operator must issue an admin "
                "service key for it (cairn key create --team "
                f"{team} --role admin --name portal) and add it to CAIRN_PORTAL_API_KEY",
                field="team",
                rule="portal_key_missing",
            )
        return key


def _metadata(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


class IngestWriter:
    """Appends batches to ingest over one gRPC channel (thread-safe; one per portal process)."""

    def __init__(self, ingest_url: str, keys: KeyRing, *, timeout_s: float = APPEND_TIMEOUT_S):
        self._channel = grpc.insecure_channel(ingest_url)
        self._stub = ingest_pb2_grpc.IngestStub(self._channel)
        self._keys = keys
        self._timeout = timeout_s

    def append(self, events: Sequence[events_pb2.Event]) -> WriteResult:
        by_team: dict[str, list[events_pb2.Event]] = {}
        for event in events:
            by_team.setdefault(event.envelope.team, []).append(event)
        written = 0
        for team, group in by_team.items():
            key = self._keys.key_for(team)
            for start in range(0, len(group), MAX_EVENTS_PER_APPEND):
                chunk = group[start : start + MAX_EVENTS_PER_APPEND]
                written += self._append(events_pb2.EventBatch(events=chunk), key)
        return WriteResult(written, tuple(by_team))

    def _append(self, batch: events_pb2.EventBatch, key: str) -> int:
        try:
            ack = self._stub.Append(batch, metadata=_metadata(key), timeout=self._timeout)
        except grpc.RpcError as exc:
            raise _write_error(exc) from exc
        return int(ack.accepted_events)

    def key_works(self, key: str) -> bool:
        """Whether ingest accepts ``key`` (an empty batch: authenticated, then refused as empty,
        so nothing is written). Raises UnavailableError when ingest cannot be reached."""
        try:
            self._stub.Append(events_pb2.EventBatch(), metadata=_metadata(key), timeout=10)
        except grpc.RpcError as exc:
            code = exc.code()
            if code == grpc.StatusCode.UNAUTHENTICATED:
                return False
            if code == grpc.StatusCode.INVALID_ARGUMENT:
                return True
            raise _write_error(exc) from exc
        return True

    def close(self) -> None:
        self._channel.close()


def _error_info(exc: grpc.RpcError) -> error_details_pb2.ErrorInfo | None:
    """The ``ErrorInfo`` ingest sends with every refusal (ingest/status_codes.py), if any."""
    status = rpc_status.from_call(exc)
    for detail in status.details if status is not None else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info) and info.domain == ERROR_DOMAIN:
            return info
    return None


def _write_error(exc: grpc.RpcError) -> CairnError:
    """Ingest's refusal as the error ingest raised (its ``ErrorInfo`` code, field and rule);
    a status without one is a :class:`WriteError`, an unreachable ingest UnavailableError."""
    code = exc.code()
    details = exc.details() or code.name
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return UnavailableError(f"ingest is unreachable ({code.name}): {details}")
    message = f"ingest refused the change ({code.name}): {details}"
    info = _error_info(exc)
    if info is None:
        return WriteError(message)
    return error_for_code(
        info.reason, message, field=info.metadata.get("field"), rule=info.metadata.get("rule")
    )


@dataclass
class RecordingSink:
    """An in-memory :class:`EventSink` for tests: keeps what was appended."""

    events: list[events_pb2.Event] = field(default_factory=list)
    fail_with: CairnError | None = None

    def append(self, events: Sequence[events_pb2.Event]) -> WriteResult:
        if self.fail_with is not None:
            raise self.fail_with
        self.events.extend(events)
        return WriteResult(len(events), tuple(dict.fromkeys(e.envelope.team for e in events)))
