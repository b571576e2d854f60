"""Authorisation of batches by the caller's team and role, and the server-owned envelope."""

from __future__ import annotations

import pytest

from cairn.errors import PermissionDeniedError
from cairn.v1 import envelope_pb2
from domain.identity import AuthenticatedKey, Role
from domain.write_authorization import authorize_and_stamp
from tests.event_samples import batch_of, metric_event, sample_event

WRITER = AuthenticatedKey("k1", "vision", Role.WRITER, envelope_pb2.ACTOR_KIND_USER, "alice")
PORTAL = AuthenticatedKey("k2", "vision", Role.ADMIN, envelope_pb2.ACTOR_KIND_SERVICE, "portal")


def test_the_actor_is_the_authenticated_key_whatever_the_client_claims() -> None:
    event = metric_event()
    event.envelope.actor.id = "mallory"
    event.envelope.actor.key_id = "forged"
    batch = batch_of(event)
    authorize_and_stamp(batch, WRITER, now_ns=123)
    actor = batch.events[0].envelope.actor
    assert (actor.kind, actor.id, actor.key_id) == (envelope_pb2.ACTOR_KIND_USER, "alice", "k1")
    assert batch.events[0].envelope.received_at_ns == 123


def test_writing_into_another_team_is_denied() -> None:
    batch = batch_of(metric_event(), metric_event(team="audio"))
    with pytest.raises(PermissionDeniedError) as caught:
        authorize_and_stamp(batch, WRITER, now_ns=1)
    assert caught.value.field == "events[1].envelope.team"
    assert str(caught.value) == (
        "events[1].envelope.team: API key k1 belongs to team 'vision' and may not write to "
        "team 'audio' (rule team_scope)"
    )
    assert not batch.events[0].envelope.received_at_ns  # nothing stamped on a denied batch


def test_identity_events_need_an_admin_key() -> None:
    with pytest.raises(PermissionDeniedError) as caught:
        authorize_and_stamp(batch_of(sample_event("api_key_issued")), WRITER, now_ns=1)
    assert caught.value.rule == "admin_required"
    authorize_and_stamp(batch_of(sample_event("api_key_issued")), PORTAL, now_ns=1)


def test_only_admin_service_keys_act_on_behalf_of_users() -> None:
    def comment() -> object:
        event = sample_event("comment_added")
        event.envelope.actor.on_behalf_of = "bob"
        return batch_of(event)

    with pytest.raises(PermissionDeniedError, match=r"\(rule on_behalf_of\)$"):
        authorize_and_stamp(comment(), WRITER, now_ns=1)  # type: ignore[arg-type]
    batch = comment()
    authorize_and_stamp(batch, PORTAL, now_ns=1)  # type: ignore[arg-type]
    assert batch.events[0].envelope.actor.on_behalf_of == "bob"  # type: ignore[attr-defined]
