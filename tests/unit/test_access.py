"""Authorisation of batches by the caller's team and role, and the server-owned envelope."""

from __future__ import annotations

import pytest

from cairn.errors import PermissionDeniedError
from cairn.v1 import envelope_pb2, events_pb2
from domain.identity import AuthenticatedKey, Role
from domain.write_authorization import authorize_and_stamp
from tests.event_samples import batch_of, metric_event, sample_event

WRITER = AuthenticatedKey("k1", "vision", Role.WRITER, envelope_pb2.ACTOR_KIND_USER, "alice")
PORTAL = AuthenticatedKey("k2", "vision", Role.ADMIN, envelope_pb2.ACTOR_KIND_SERVICE, "portal")
SERVICE_WRITER = AuthenticatedKey(
    "k3", "vision", Role.WRITER, envelope_pb2.ACTOR_KIND_SERVICE, "jobs"
)


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


def _read_marks(user_id: str, on_behalf_of: str = "") -> events_pb2.EventBatch:
    event = sample_event("inbox_items_read")
    event.inbox_items_read.user_id = user_id
    event.envelope.actor.on_behalf_of = on_behalf_of
    return batch_of(event)


def test_inbox_read_marks_are_the_authenticated_persons_own() -> None:
    mine = _read_marks("alice")
    authorize_and_stamp(mine, WRITER, now_ns=1)  # alice's own key
    assert mine.events[0].inbox_items_read.user_id == "alice"
    portal = _read_marks("bob", on_behalf_of="bob")
    authorize_and_stamp(portal, PORTAL, now_ns=1)
    assert portal.events[0].inbox_items_read.user_id == "bob"
    for batch, caller in (
        (_read_marks("bob"), WRITER),  # alice's key marking bob's items
        (_read_marks("alice", on_behalf_of="bob"), PORTAL),  # the portal for bob, alice's items
        (_read_marks("alice"), PORTAL),  # a service key acting for nobody has no inbox
        (_read_marks("jobs"), SERVICE_WRITER),
    ):
        with pytest.raises(PermissionDeniedError) as caught:
            authorize_and_stamp(batch, caller, now_ns=1)
        assert (caught.value.field, caught.value.rule) == (
            "events[0].inbox_items_read.user_id",
            "inbox_owner",
        )
