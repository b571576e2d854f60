"""API keys and the identity state ingest authenticates against, rebuilt from identity events.

Keys are ``cairn_<key id>_<secret>`` with a 256-bit random secret. Only a hash of the whole key
text is ever stored or sent (``ApiKeyIssued.key_sha256``): for a high-entropy random key a plain
fast hash is as safe as a password hash, because there is nothing to guess, and it keeps
authentication to one hash and one dictionary lookup per call. The key id is public; it names
the key in lists, logs and revocations.

A deployment may set a server-side *pepper* (``CAIRN_API_KEY_PEPPER``, a secret that lives only
with ingest and the operator tools that issue keys, never in Kafka or ClickHouse): the hash is
then HMAC-SHA256 of the key keyed with the pepper, so the stored hashes cannot be matched
against keys by anyone who reads the event log or the projections but not the pepper. Without a
pepper the hash is plain SHA-256 (the local stack). Every issuer and every verifier of one
installation must use the same pepper: changing it makes every issued key unknown.

:class:`IdentityRegistry` is a projection of the identity topic: :meth:`IdentityRegistry.apply`
folds one event in, is idempotent (a replayed or duplicated event changes nothing) and ignores
events it does not care about. The first ``ApiKeyIssued`` for a key id wins.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, replace
from enum import StrEnum

from cairn_contract.errors import AuthenticationError
from cairn_contract.v1 import envelope_pb2, events_pb2, identity_pb2

KEY_PREFIX = "cairn"


class Role(StrEnum):
    WRITER = "writer"  # writes tracking events for its team
    ADMIN = "admin"  # also writes identity events (keys, members, projects) for its team

    @property
    def proto(self) -> identity_pb2.ApiKeyRole.ValueType:
        return (
            identity_pb2.API_KEY_ROLE_ADMIN
            if self is Role.ADMIN
            else identity_pb2.API_KEY_ROLE_WRITER
        )

    @classmethod
    def from_proto(cls, value: int) -> Role | None:
        if value == identity_pb2.API_KEY_ROLE_WRITER:
            return cls.WRITER
        if value == identity_pb2.API_KEY_ROLE_ADMIN:
            return cls.ADMIN
        return None


@dataclass(frozen=True, slots=True)
class NewKey:
    key_id: str
    key: str  # shown to the operator once, never stored
    sha256: str


def hash_api_key(key: str, pepper: str = "") -> str:
    """The stored form of ``key``: HMAC-SHA256 keyed with ``pepper``, or SHA-256 without one
    (64 hex digits either way, the ``key_sha256`` field's format)."""
    if pepper:
        return hmac.new(pepper.encode(), key.encode(), hashlib.sha256).hexdigest()
    return hashlib.sha256(key.encode()).hexdigest()


def generate_api_key(pepper: str = "") -> NewKey:
    key_id = secrets.token_hex(6)
    key = f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    return NewKey(key_id, key, hash_api_key(key, pepper))


@dataclass(frozen=True, slots=True)
class AuthenticatedKey:
    """Who an authenticated request comes from; what ingest records as the events' actor."""

    key_id: str
    team: str
    role: Role
    actor_kind: envelope_pb2.ActorKind.ValueType
    actor_id: str  # the user id for a person's key, the key's name for a service key


@dataclass(frozen=True, slots=True)
class KeyRecord:
    key_id: str
    sha256: str
    team: str
    role: Role
    name: str
    principal_kind: envelope_pb2.ActorKind.ValueType
    user_id: str
    issued_at_ns: int
    expires_at_ns: int
    revoked: bool = False
    revoked_reason: str = ""

    def caller(self) -> AuthenticatedKey:
        user = self.principal_kind == envelope_pb2.ACTOR_KIND_USER
        return AuthenticatedKey(
            self.key_id,
            self.team,
            self.role,
            self.principal_kind,
            self.user_id if user else self.name,
        )


@dataclass(frozen=True, slots=True)
class Member:
    team: str
    user_id: str
    display_name: str
    role: identity_pb2.MemberRole.ValueType
    active: bool


class IdentityRegistry:
    """Teams, members, projects and API keys as the identity events describe them; presented keys
    are hashed with ``pepper`` (the installation's, see the module docstring) to be found."""

    def __init__(self, pepper: str = "") -> None:
        self._pepper = pepper
        self.teams: dict[str, str] = {}  # slug -> display name
        self.projects: dict[tuple[str, str], str] = {}  # (team, project) -> display name
        self.members: dict[tuple[str, str], Member] = {}
        self._keys: dict[str, KeyRecord] = {}  # key id -> record
        self._by_hash: dict[str, str] = {}  # sha256 -> key id
        self.applied = 0

    def apply(self, event: events_pb2.Event) -> None:
        env = event.envelope
        kind = event.WhichOneof("payload")
        self.applied += 1
        if kind == "team_created":
            self.teams.setdefault(env.team, event.team_created.display_name or env.team)
        elif kind == "project_created":
            self.projects.setdefault((env.team, env.project), event.project_created.display_name)
        elif kind == "member_joined":
            joined = event.member_joined
            self.members[(env.team, joined.user_id)] = Member(
                env.team, joined.user_id, joined.display_name, joined.role, active=True
            )
        elif kind == "member_left":
            self._member_left(env.team, event.member_left.user_id)
        elif kind == "api_key_issued":
            self._key_issued(event)
        elif kind == "api_key_revoked":
            record = self._keys.get(event.api_key_revoked.key_id)
            if record is not None and record.team == env.team and not record.revoked:
                reason = event.api_key_revoked.reason or "revoked"
                self._keys[record.key_id] = replace(record, revoked=True, revoked_reason=reason)

    def _member_left(self, team: str, user_id: str) -> None:
        member = self.members.get((team, user_id))
        if member is not None:
            self.members[(team, user_id)] = replace(member, active=False)
        for record in list(self._keys.values()):
            if record.team == team and record.user_id == user_id and not record.revoked:
                self._keys[record.key_id] = replace(
                    record, revoked=True, revoked_reason="member left the team"
                )

    def _key_issued(self, event: events_pb2.Event) -> None:
        issued = event.api_key_issued
        role = Role.from_proto(issued.role)
        if role is None or issued.key_id in self._keys or issued.key_sha256 in self._by_hash:
            return
        self._keys[issued.key_id] = KeyRecord(
            key_id=issued.key_id,
            sha256=issued.key_sha256,
            team=event.envelope.team,
            role=role,
            name=issued.name,
            principal_kind=issued.principal_kind,
            user_id=issued.user_id,
            issued_at_ns=event.envelope.occurred_at_ns,
            expires_at_ns=issued.expires_at_ns,
        )
        self._by_hash[issued.key_sha256] = issued.key_id

    def authenticate(self, key: str, *, now_ns: int) -> AuthenticatedKey:
        """The caller a presented key stands for; AuthenticationError when it does not work."""
        if not key:
            raise AuthenticationError(
                "no API key: send it as 'authorization: Bearer <key>' metadata",
                rule="api_key_required",
            )
        key_id = self._by_hash.get(hash_api_key(key, self._pepper))
        if key_id is None:
            raise AuthenticationError("API key not recognised", rule="api_key_unknown")
        record = self._keys[key_id]
        if record.revoked:
            raise AuthenticationError(
                f"API key {key_id} was revoked ({record.revoked_reason})", rule="api_key_revoked"
            )
        if record.expires_at_ns and now_ns >= record.expires_at_ns:
            raise AuthenticationError(f"API key {key_id} has expired", rule="api_key_expired")
        return record.caller()

    def find_key(self, key_id: str) -> KeyRecord | None:
        return self._keys.get(key_id)

    def api_keys(self, team: str | None = None) -> Iterator[KeyRecord]:
        return (r for r in self._keys.values() if team is None or r.team == team)
