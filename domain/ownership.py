"""Aggregate ownership: which team an aggregate belongs to, and who may write to it (pure rule).

The rule (docs/permissions.md, "Aggregate ownership"), decided here once for ingest (before
Kafka) and the processors (before projecting):

- Runs, models and saved views have ids that are global (a UUID, a model id). The first event
  accepted for such an aggregate *claims* it for its ``envelope.team``; normally that is its
  creation (``run_created``, ``model_registered``). Every later event for it must carry the same
  team, else it is refused: rule ``aggregate_owner``, field ``events[i].envelope.aggregate_id``.
- A creation event for an aggregate that already exists is refused (the same event again, same
  ``event_id``, is a client retry and passes): another team's aggregate -> ``aggregate_owner``;
  the same team's -> ``aggregate_exists``. A creation after the aggregate was claimed by a
  non-creating event of the same team is accepted once (it records the creation).
- Projects and teams are named within their team (a project slug is unique in its team, a team
  aggregate *is* the team), so they always belong to ``envelope.team`` and need no claim:
  ``team_scope`` (domain/write_authorization.py) already ties them to the caller's key.

There are no cross-team writes: sharing grants reading only. :class:`AggregateOwners` is the
state both enforcement points fold (first claim wins, idempotent); :func:`check_event` is the
decision. The state is keyed by :func:`ownership_key` (``run:<id>``, ``model:<id>``,
``view:<id>``), which is also the key of the ownership topic ingest keeps (ingest/ownership_log.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from cairn_contract.v1 import envelope_pb2, events_pb2

_GLOBAL_KINDS: Mapping[int, str] = {
    envelope_pb2.AGGREGATE_KIND_RUN: "run",
    envelope_pb2.AGGREGATE_KIND_MODEL: "model",
    envelope_pb2.AGGREGATE_KIND_VIEW: "view",
}

# Event types that create their aggregate; a second creation of one aggregate is refused.
CREATION_EVENTS = frozenset({"run_created", "model_registered"})


class Refusal(StrEnum):
    """Why an event may not be written; the values are the rule names errors carry."""

    FOREIGN = "aggregate_owner"  # the aggregate belongs to another team
    EXISTS = "aggregate_exists"  # a creation event for an aggregate that exists
    FORK_SOURCE = "fork_source"  # run_forked names a run that is unknown or another team's


@dataclass(frozen=True, slots=True)
class Owner:
    """The team owning an aggregate and the event that created it ('' until a creation)."""

    team: str
    created_by: str = ""


@dataclass(frozen=True, slots=True)
class Claim:
    """What an accepted event teaches the ownership state; written to the ownership log."""

    key: str
    team: str
    created_by: str = ""

    def encode(self) -> bytes:
        return f"{self.team}\n{self.created_by}".encode()

    @classmethod
    def decode(cls, key: bytes, value: bytes) -> Claim:
        team, _, created_by = value.decode().partition("\n")
        return cls(key.decode(), team, created_by)


@dataclass(frozen=True, slots=True)
class Violation:
    refusal: Refusal
    owner_team: str
    message: str


def ownership_key(event: events_pb2.Event) -> str | None:
    """``run:<id>`` / ``model:<id>`` / ``view:<id>``; None for team-scoped aggregates."""
    env = event.envelope
    kind = _GLOBAL_KINDS.get(env.aggregate_kind)
    if kind is None or not env.aggregate_id:
        return None
    return f"{kind}:{env.aggregate_id}"


class AggregateOwners:
    """The owner of each claimed aggregate: a fold of claims where the first team wins."""

    def __init__(self, owners: Mapping[str, Owner] | None = None) -> None:
        self._owners: dict[str, Owner] = dict(owners or {})

    def __len__(self) -> int:
        return len(self._owners)

    def __contains__(self, key: object) -> bool:
        return key in self._owners

    def owner(self, key: str) -> Owner | None:
        return self._owners.get(key)

    def apply(self, claim: Claim) -> None:
        """Fold one claim in: the first team stays; the first creation of that team is kept."""
        current = self._owners.get(claim.key)
        if current is None:
            self._owners[claim.key] = Owner(claim.team, claim.created_by)
        elif current.team == claim.team and claim.created_by and not current.created_by:
            self._owners[claim.key] = Owner(current.team, claim.created_by)

    def apply_all(self, claims: Iterable[Claim]) -> None:
        for claim in claims:
            self.apply(claim)


def fork_parent_key(event: events_pb2.Event) -> str | None:
    """``run:<parent>`` for a ``run_forked`` event (the run it starts from), else None."""
    if event.WhichOneof("payload") != "run_forked":
        return None
    return f"run:{event.run_forked.parent_run_id}"


def check_fork_parent(event: events_pb2.Event, parent: Owner | None) -> Violation | None:
    """A run may be forked only from a run ingest knows and that belongs to the writer's team.

    Ingest knows owners, not shares, so a run of another team (even one shared with the writer)
    cannot be forked yet; the SDK also reads the parent through the query service with the
    caller's visibility before it writes anything."""
    parent_id = event.run_forked.parent_run_id
    if parent is None:
        return Violation(
            Refusal.FORK_SOURCE, "", f"run {parent_id!r} to fork from is not known to ingest"
        )
    if parent.team != event.envelope.team:
        return Violation(
            Refusal.FORK_SOURCE,
            parent.team,
            f"run {parent_id!r} belongs to another team; team {event.envelope.team!r} may "
            "fork only its own runs",
        )
    return None


def check_event(event: events_pb2.Event, owner: Owner | None) -> Violation | None:
    """None if ``event`` may be written given the aggregate's current ``owner``, else why not."""
    env = event.envelope
    kind = event.WhichOneof("payload") or ""
    if owner is None:
        return None
    what = f"{_GLOBAL_KINDS.get(env.aggregate_kind, 'aggregate')} {env.aggregate_id!r}"
    if owner.team != env.team:
        return Violation(
            Refusal.FOREIGN,
            owner.team,
            f"{what} belongs to another team; team {env.team!r} may not write to it",
        )
    if kind in CREATION_EVENTS and owner.created_by and owner.created_by != env.event_id:
        return Violation(
            Refusal.EXISTS,
            owner.team,
            f"{what} already exists (created by event {owner.created_by}); {kind} cannot "
            "create it again",
        )
    return None


def claim_for(event: events_pb2.Event, owner: Owner | None) -> Claim | None:
    """The claim an accepted ``event`` adds (None when it teaches nothing new)."""
    key = ownership_key(event)
    if key is None:
        return None
    env = event.envelope
    creation = env.event_id if (event.WhichOneof("payload") or "") in CREATION_EVENTS else ""
    if owner is None or (creation and not owner.created_by):
        return Claim(key, env.team, creation)
    return None


def check_batch(
    events: Iterable[events_pb2.Event], owners: AggregateOwners
) -> tuple[list[Claim], tuple[int, Violation] | None]:
    """Check events in order as if each earlier one were accepted (a batch may create a run and
    then log to it). Returns the claims the batch adds and the first violation (index, why)."""
    staged = AggregateOwners()
    claims: list[Claim] = []
    for i, event in enumerate(events):
        key = ownership_key(event)
        if key is None:
            continue
        owner = staged.owner(key) or owners.owner(key)
        violation = check_event(event, owner)
        parent_key = fork_parent_key(event)
        if violation is None and parent_key is not None:
            parent = staged.owner(parent_key) or owners.owner(parent_key)
            violation = check_fork_parent(event, parent)
        if violation is not None:
            return claims, (i, violation)
        claim = claim_for(event, owner)
        if claim is not None:
            claims.append(claim)
            base = owners.owner(key)
            if base is not None and key not in staged:
                staged.apply(Claim(key, base.team, base.created_by))
            staged.apply(claim)
    return claims, None
