"""API keys and the identity registry projected from identity events."""

from __future__ import annotations

import time

import pytest

from cairn.errors import AuthenticationError
from cairn.v1 import envelope_pb2, events_pb2, identity_pb2
from domain.identity import IdentityRegistry, Role, generate_api_key, hash_api_key
from tests.event_samples import sample_event


def issued(
    key_sha256: str,
    key_id: str,
    *,
    team: str = "vision",
    user: str = "",
    role: int = 1,
    expires_at_ns: int = 0,
) -> events_pb2.Event:
    event = sample_event("api_key_issued", team=team)
    event.api_key_issued.CopyFrom(
        identity_pb2.ApiKeyIssued(
            key_id=key_id,
            key_sha256=key_sha256,
            role=role,  # type: ignore[arg-type]
            name="ci",
            principal_kind=envelope_pb2.ACTOR_KIND_USER
            if user
            else envelope_pb2.ACTOR_KIND_SERVICE,
            user_id=user,
            expires_at_ns=expires_at_ns,
        )
    )
    return event


def revoked(key_id: str, *, team: str = "vision") -> events_pb2.Event:
    event = sample_event("api_key_revoked", team=team)
    event.api_key_revoked.key_id = key_id
    event.api_key_revoked.reason = "leaked"
    return event


def test_generated_keys_embed_their_id_and_hash_stably() -> None:
    new = generate_api_key()
    assert new.key.startswith(f"cairn_{new.key_id}_")
    assert len(new.key) > 50
    assert new.sha256 == hash_api_key(new.key) != hash_api_key(generate_api_key().key)


def test_a_peppered_key_works_only_where_the_same_pepper_is_configured() -> None:
    new = generate_api_key(pepper="p1")
    assert len(new.sha256) == 64
    assert new.sha256 == hash_api_key(new.key, "p1")
    assert new.sha256 not in {hash_api_key(new.key), hash_api_key(new.key, "p2")}
    for pepper, works in (("p1", True), ("p2", False), ("", False)):
        registry = IdentityRegistry(pepper)
        registry.apply(issued(new.sha256, new.key_id))
        if works:
            assert registry.authenticate(new.key, now_ns=time.time_ns()).key_id == new.key_id
        else:
            with pytest.raises(AuthenticationError, match="not recognised"):
                registry.authenticate(new.key, now_ns=time.time_ns())


def test_an_issued_key_authenticates_as_its_team_and_role() -> None:
    registry = IdentityRegistry()
    new = generate_api_key()
    registry.apply(issued(new.sha256, new.key_id, role=identity_pb2.API_KEY_ROLE_ADMIN))
    caller = registry.authenticate(new.key, now_ns=time.time_ns())
    assert (caller.key_id, caller.team, caller.role) == (new.key_id, "vision", Role.ADMIN)
    assert (caller.actor_kind, caller.actor_id) == (envelope_pb2.ACTOR_KIND_SERVICE, "ci")


def test_a_user_key_acts_as_the_user() -> None:
    registry = IdentityRegistry()
    new = generate_api_key()
    registry.apply(issued(new.sha256, new.key_id, user="alice"))
    caller = registry.authenticate(new.key, now_ns=time.time_ns())
    assert (caller.actor_kind, caller.actor_id) == (envelope_pb2.ACTOR_KIND_USER, "alice")


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "no API key: send it as 'authorization: Bearer <key>' metadata"),
        ("cairn_nope_nope", "API key not recognised"),
    ],
)
def test_missing_and_unknown_keys_are_rejected(key: str, message: str) -> None:
    with pytest.raises(AuthenticationError, match=f"^{message}$"):
        IdentityRegistry().authenticate(key, now_ns=time.time_ns())


def test_a_revoked_key_is_rejected_and_replaying_the_log_changes_nothing() -> None:
    new = generate_api_key()
    log = [issued(new.sha256, new.key_id), revoked(new.key_id)]
    registry = IdentityRegistry()
    for event in log + log:
        registry.apply(event)
    with pytest.raises(
        AuthenticationError, match=rf"^API key {new.key_id} was revoked \(leaked\)$"
    ):
        registry.authenticate(new.key, now_ns=time.time_ns())


def test_another_team_cannot_revoke_a_key() -> None:
    new = generate_api_key()
    registry = IdentityRegistry()
    registry.apply(issued(new.sha256, new.key_id))
    registry.apply(revoked(new.key_id, team="audio"))
    registry.authenticate(new.key, now_ns=time.time_ns())


def test_an_expired_key_is_rejected() -> None:
    new = generate_api_key()
    registry = IdentityRegistry()
    registry.apply(issued(new.sha256, new.key_id, expires_at_ns=time.time_ns() - 1))
    with pytest.raises(AuthenticationError, match="has expired"):
        registry.authenticate(new.key, now_ns=time.time_ns())


def test_a_leaving_member_keeps_their_record_but_loses_their_keys() -> None:
    new = generate_api_key()
    registry = IdentityRegistry()
    registry.apply(sample_event("member_joined"))
    registry.apply(issued(new.sha256, new.key_id, user="alice"))
    registry.apply(sample_event("member_left"))
    assert registry.members[("vision", "alice")].active is False
    with pytest.raises(AuthenticationError, match="member left the team"):
        registry.authenticate(new.key, now_ns=time.time_ns())


def test_the_first_issue_of_a_key_id_wins() -> None:
    first, second = generate_api_key(), generate_api_key()
    registry = IdentityRegistry()
    registry.apply(issued(first.sha256, "same-id"))
    registry.apply(issued(second.sha256, "same-id", role=identity_pb2.API_KEY_ROLE_ADMIN))
    assert registry.authenticate(first.key, now_ns=time.time_ns()).role is Role.WRITER
    with pytest.raises(AuthenticationError):
        registry.authenticate(second.key, now_ns=time.time_ns())
