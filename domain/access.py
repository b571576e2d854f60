"""Authorisation of a checked batch for a caller, and the envelope fields the server owns.

Rules (docs/events.md, "Authentication and scope"):

- every event's ``envelope.team`` must be the key's team (``team_scope``);
- identity events (teams, members, keys, projects) need an admin key (``admin_required``);
- ``actor.on_behalf_of`` may only be set by an admin service key such as the portal's
  (``on_behalf_of``).

The server then overwrites ``actor.kind``, ``actor.id`` and ``actor.key_id`` with the key's
identity and sets ``received_at_ns``: the recorded actor is always the authenticated one, so a
client cannot write events in someone else's name. Violations raise
:class:`cairn.errors.PermissionDeniedError` naming the field and rule; the batch is then rejected
whole.
"""

from __future__ import annotations

from cairn_contract.errors import PermissionDeniedError
from cairn_contract.event_types import IDENTITY_EVENT_TYPES
from cairn_contract.v1 import envelope_pb2, events_pb2
from domain.identity import Caller, Role


def _deny(field: str, rule: str, detail: str) -> PermissionDeniedError:
    return PermissionDeniedError(f"{field}: {detail} (rule {rule})", field=field, rule=rule)


def authorize_and_stamp(batch: events_pb2.EventBatch, caller: Caller, *, now_ns: int) -> None:
    """Raise PermissionDeniedError if ``caller`` may not write ``batch``; else stamp it."""
    trusted_service = (
        caller.role is Role.ADMIN and caller.actor_kind == envelope_pb2.ACTOR_KIND_SERVICE
    )
    for i, event in enumerate(batch.events):
        env = event.envelope
        if env.team != caller.team:
            raise _deny(
                f"events[{i}].envelope.team",
                "team_scope",
                f"API key {caller.key_id} belongs to team {caller.team!r} "
                f"and may not write to team {env.team!r}",
            )
        event_type = event.WhichOneof("payload")
        if event_type in IDENTITY_EVENT_TYPES and caller.role is not Role.ADMIN:
            raise _deny(
                f"events[{i}].{event_type}",
                "admin_required",
                f"{event_type} events need an admin API key, "
                f"{caller.key_id} is a {caller.role} key",
            )
        if env.actor.on_behalf_of and not trusted_service:
            raise _deny(
                f"events[{i}].envelope.actor.on_behalf_of",
                "on_behalf_of",
                "only admin service keys may act on behalf of a user",
            )
    for event in batch.events:
        env = event.envelope
        env.actor.kind = caller.actor_kind
        env.actor.id = caller.actor_id
        env.actor.key_id = caller.key_id
        env.received_at_ns = now_ns
