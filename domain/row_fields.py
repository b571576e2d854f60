"""Column groups every projected row shares: its order (sequence, time, event id), scope (team,
project), target, actor, and the two row shapes several event types write (a run field, a
lineage edge). Pure: no I/O."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cairn_contract.v1 import envelope_pb2, events_pb2

if TYPE_CHECKING:
    from domain.projections import Projection

Event = events_pb2.Event


def enum_label(enum_type: Any, value: int) -> str:
    """``RUN_STATUS_FINISHED`` -> ``finished``: the readable names SQL users see."""
    try:
        name: str = enum_type.Name(value)
    except ValueError:
        return str(value)
    prefix = enum_type.Name(0).removesuffix("UNSPECIFIED")
    return name.removeprefix(prefix).lower()


def order(event: Event) -> dict[str, Any]:
    env = event.envelope
    return {"sequence": env.sequence, "occurred_at": env.occurred_at_ns, "event_id": env.event_id}


def scope(event: Event) -> dict[str, str]:
    return {"team": event.envelope.team, "project": event.envelope.project}


def target(event: Event) -> dict[str, str]:
    env = event.envelope
    return {
        "target_kind": enum_label(envelope_pb2.AggregateKind, env.aggregate_kind),
        "target_id": env.aggregate_id,
    }


def actor(event: Event) -> str:
    """The person responsible: the user a trusted service (the portal) acted for, else the caller."""
    actor = event.envelope.actor
    return actor.on_behalf_of or actor.id


def actor_kind(event: Event) -> str:
    """``user`` when a trusted service acted for a person: the person acted, the service (still
    in the archived envelope's ``actor.id``/``key_id``) was only the channel."""
    actor = event.envelope.actor
    if actor.on_behalf_of:
        return enum_label(envelope_pb2.ActorKind, envelope_pb2.ACTOR_KIND_USER)
    return enum_label(envelope_pb2.ActorKind, actor.kind)


def run_field(p: Projection, event: Event, field: str, value: str) -> None:
    p.buffers["run_fields"].append(
        run_id=event.envelope.aggregate_id, field=field, value=value, **order(event)
    )


def edge(
    p: Projection,
    event: Event,
    source: tuple[str, str, int, str],
    relation: str,
    target: tuple[str, str, int, str],
) -> None:
    (sk, sid, sver, sname), (tk, tid, tver, tname) = source, target
    p.buffers["lineage"].append(
        source_kind=sk,
        source_id=sid,
        source_version=sver,
        source_name=sname,
        relation=relation,
        target_kind=tk,
        target_id=tid,
        target_version=tver,
        target_name=tname,
        actor=actor(event),
        **scope(event),
        **order(event),
    )
