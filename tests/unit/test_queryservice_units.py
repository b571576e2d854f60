"""Pure parts of the query service: page tokens and who a key reads as."""

from __future__ import annotations

import pytest

from cairn_contract.errors import ValidationError
from cairn_contract.v1 import envelope_pb2, events_pb2
from domain.identity import AuthenticatedKey, IdentityRegistry, Role
from query.access import Caller
from queryservice.callers import query_caller
from queryservice.paging import decode_token, encode_token, search_digest


def test_a_token_continues_the_search_it_came_from() -> None:
    digest = search_digest("params.lr < 1", "created", "churn")
    assert decode_token(encode_token(300, digest), digest) == 300
    assert decode_token("", digest) == 0


@pytest.mark.parametrize("token", ["garbage!", encode_token(10, "another-search")])
def test_a_foreign_or_garbled_token_is_invalid_argument(token: str) -> None:
    with pytest.raises(ValidationError) as caught:
        decode_token(token, search_digest("x", "", ""))
    assert caught.value.field == "page_token"


def _registry_with(team: str, user: str, *, active: bool = True) -> IdentityRegistry:
    registry = IdentityRegistry()
    joined = events_pb2.Event(envelope=envelope_pb2.Envelope(team=team))
    joined.member_joined.user_id = user
    registry.apply(joined)
    if not active:
        left = events_pb2.Event(envelope=envelope_pb2.Envelope(team=team))
        left.member_left.user_id = user
        registry.apply(left)
    return registry


def test_a_persons_key_reads_as_that_person_with_their_teams() -> None:
    key = AuthenticatedKey("k1", "vision", Role.WRITER, envelope_pb2.ACTOR_KIND_USER, "alice")
    assert query_caller(key, _registry_with("risk", "alice")) == Caller(
        "alice", frozenset({"vision", "risk"})
    )
    assert query_caller(key, _registry_with("risk", "alice", active=False)) == Caller(
        "alice", frozenset({"vision"})
    )


def test_a_service_key_reads_in_its_own_team_only_and_is_never_admin() -> None:
    key = AuthenticatedKey("k2", "vision", Role.ADMIN, envelope_pb2.ACTOR_KIND_SERVICE, "portal")
    caller = query_caller(key, _registry_with("risk", "portal"))
    assert caller == Caller("service:portal", frozenset({"vision"}))
    assert not caller.admin
