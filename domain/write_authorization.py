"""Authorisation of a checked batch for a caller, and the envelope fields the server owns.

Rules (docs/events.md, "Authentication and scope"):

- every event's ``envelope.team`` must be the key's team (``team_scope``);
- identity events (teams, members, keys, projects) need an admin key (``admin_required``);
- ``actor.on_behalf_of`` may only be set by an admin service key such as the portal's
  (``on_behalf_of``);
- inbox read marks (``inbox_items_read``) are the authenticated person's own: a person's key, or
  the portal acting on behalf of its signed-in user; ``user_id`` is empty or that person, and is
  set to that person (``inbox_owner``), so nobody marks another person's inbox read;
- an admin manages its own team only (:func:`authorize_identity`): a key for a person needs that
  person to be an active member of the team (``member_of_team``), a revocation needs a key of
  the team (``key_of_team``; an unknown key id is NOT_FOUND, ``key_exists``);
- runs, models and views belong to the team that first wrote them (domain/ownership.py,
  ``aggregate_owner`` / ``aggregate_exists``, raised by :func:`ownership_error`).

The server then overwrites ``actor.kind``, ``actor.id`` and ``actor.key_id`` with the key's
identity and sets ``received_at_ns``: the recorded actor is always the authenticated one, so a
client cannot write events in someone else's name. Violations raise
:class:`cairn.errors.PermissionDeniedError` naming the field and rule; the batch is then rejected
whole.
"""

from __future__ import annotations

from cairn_contract.errors import (
    AlreadyExistsError,
    CairnError,
    NotFoundError,
    PermissionDeniedError,
)
from cairn_contract.event_types import IDENTITY_EVENT_TYPES
from cairn_contract.v1 import envelope_pb2, events_pb2
from domain.identity import AuthenticatedKey, IdentityRegistry, Role
from domain.ownership import Refusal, Violation


def _deny(field: str, rule: str, detail: str) -> PermissionDeniedError:
    return PermissionDeniedError(f"{field}: {detail} (rule {rule})", field=field, rule=rule)


def authorize_and_stamp(
    batch: events_pb2.EventBatch, caller: AuthenticatedKey, *, now_ns: int
) -> None:
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
        if event_type == "inbox_items_read":
            _check_inbox_owner(i, event, caller)
    for event in batch.events:
        env = event.envelope
        env.actor.kind = caller.actor_kind
        env.actor.id = caller.actor_id
        env.actor.key_id = caller.key_id
        env.received_at_ns = now_ns
        if event.WhichOneof("payload") == "inbox_items_read":
            event.inbox_items_read.user_id = inbox_owner(event.envelope.actor, caller)


# Events whose payload ingest changes after authorisation: always re-encoded, never kept as sent.
_PAYLOAD_REWRITTEN = frozenset({"inbox_items_read", "rule_created", "rule_changed"})


def stamp_bytes(event: events_pb2.Event) -> bytes | None:
    """The envelope fields :func:`authorize_and_stamp` set on ``event``, serialized on their own.

    Appended to the event's bytes as the client sent them, a protobuf parser merges these over
    the client's values (the last value of a scalar field wins, messages merge), so the stored
    event reads exactly as the stamped one without re-encoding it. None when a stamped value is
    its field's default: proto3 does not serialize defaults, so it could not override the
    client's value and the caller must re-encode the event instead; None too for an inbox read
    mark, whose ``user_id`` is stamped inside the payload, and for a rule definition, whose
    webhook secrets ingest replaces by their sealed form (``ingest/webhook_rules.py``): the
    client's bytes hold the plain secret, which no appended stamp could remove. Keep it in step
    with :func:`authorize_and_stamp` (tests/unit/test_validation.py checks every event type).
    """
    if event.WhichOneof("payload") in _PAYLOAD_REWRITTEN:
        return None
    env = event.envelope
    actor = env.actor
    if not (actor.kind and actor.id and actor.key_id and env.received_at_ns):
        return None
    stamp = events_pb2.Event()
    stamp.envelope.actor.kind = actor.kind
    stamp.envelope.actor.id = actor.id
    stamp.envelope.actor.key_id = actor.key_id
    stamp.envelope.received_at_ns = env.received_at_ns
    return stamp.SerializeToString()


def inbox_owner(actor: envelope_pb2.Actor, caller: AuthenticatedKey) -> str:
    """Whose inbox a read mark is for: the person the portal acts for, or a person's own key;
    "" for a service key acting for nobody (it has no inbox)."""
    if actor.on_behalf_of:
        return actor.on_behalf_of
    return caller.actor_id if caller.actor_kind == envelope_pb2.ACTOR_KIND_USER else ""


def _check_inbox_owner(i: int, event: events_pb2.Event, caller: AuthenticatedKey) -> None:
    field = f"events[{i}].inbox_items_read.user_id"
    person = inbox_owner(event.envelope.actor, caller)
    if not person:
        raise _deny(
            field,
            "inbox_owner",
            f"inbox read marks are a person's: {caller.key_id} is a service key acting for "
            "nobody (use the person's key, or the portal on their behalf)",
        )
    claimed = event.inbox_items_read.user_id
    if claimed and claimed != person:
        raise _deny(
            field,
            "inbox_owner",
            f"{claimed[:80]!r} is not the authenticated person {person!r}: "
            "only your own inbox items can be marked read",
        )


def authorize_identity(batch: events_pb2.EventBatch, registry: IdentityRegistry) -> None:
    """Refuse identity events that reach into another team: keys for people who are not active
    members of the key's team, revocations of other teams' keys (docs/permissions.md, I2, I4)."""
    joined: set[tuple[str, str]] = set()
    issued: dict[str, str] = {}  # key id -> team, for keys issued earlier in this batch
    for i, event in enumerate(batch.events):
        env = event.envelope
        kind = event.WhichOneof("payload")
        if kind == "member_joined":
            joined.add((env.team, event.member_joined.user_id))
        elif kind == "api_key_issued":
            key = event.api_key_issued
            issued[key.key_id] = env.team
            if key.principal_kind == envelope_pb2.ACTOR_KIND_USER:
                member = registry.members.get((env.team, key.user_id))
                if (env.team, key.user_id) not in joined and (member is None or not member.active):
                    raise _deny(
                        f"events[{i}].api_key_issued.user_id",
                        "member_of_team",
                        f"{key.user_id!r} is not an active member of team {env.team!r}; an "
                        "admin issues keys for their own team's members only",
                    )
        elif kind == "api_key_revoked":
            key_id = event.api_key_revoked.key_id
            record = registry.find_key(key_id)
            team = record.team if record is not None else issued.get(key_id)
            field = f"events[{i}].api_key_revoked.key_id"
            if team is None:
                raise NotFoundError(
                    f"{field}: there is no API key {key_id!r} (rule key_exists)",
                    field=field,
                    rule="key_exists",
                )
            if team != env.team:
                raise _deny(
                    field,
                    "key_of_team",
                    f"API key {key_id} belongs to another team; team {env.team!r} may revoke "
                    "only its own keys",
                )


def ownership_error(index: int, violation: Violation) -> CairnError:
    """The error for an event that breaks the aggregate-ownership rule (domain/ownership.py)."""
    field = f"events[{index}].envelope.aggregate_id"
    if violation.refusal is Refusal.FORK_SOURCE:
        field = f"events[{index}].run_forked.parent_run_id"
    text = f"{field}: {violation.message} (rule {violation.refusal})"
    if violation.refusal is Refusal.EXISTS:
        return AlreadyExistsError(text, field=field, rule=violation.refusal.value)
    return PermissionDeniedError(text, field=field, rule=violation.refusal.value)
