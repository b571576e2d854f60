"""The events the portal emits on people's behalf: comments, decisions, shares, ownership, notes,
model registrations and alias moves, run housekeeping (rename, description, tags, archive).

The portal changes nothing directly; everything a person does in it becomes an event appended
through ingest (:mod:`ui.ingest_writer`), exactly like the SDK's. Each builder here is pure: it returns
an ``Event`` whose envelope carries

- a fresh UUIDv7 ``event_id`` (the idempotency key: retrying the same event object is harmless);
- the aggregate (the run, project or model the event is about) and its team and project;
- ``actor.on_behalf_of`` = the signed-in person. Ingest stamps ``actor.id``/``kind``/``key_id``
  from the portal's admin *service* key, and only such keys may name someone else, so the
  projections attribute the event to the person (docs/events.md, "Authentication and scope");
- for run events, ``sequence`` = one above the highest the run has (``ui.data.run_sequences``), so a
  portal change to a run's state wins over the run's own earlier events (docs/schema.md,
  "Views that present the latest state"). Project and model events stay unsequenced (0):
  comments and transfers are ordered by time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from cairn_contract.envelopes import new_envelope
from cairn_contract.ids import new_uuid7
from cairn_contract.v1 import (
    collaboration_pb2,
    envelope_pb2,
    events_pb2,
    lineage_pb2,
    models_pb2,
    runs_pb2,
)

_MENTION = re.compile(r"(?<![\w@`])@([A-Za-z0-9][A-Za-z0-9._:+\-]*[A-Za-z0-9]|[A-Za-z0-9])")


class TargetKind(StrEnum):
    RUN = "run"  # aggregate id: the run id
    PROJECT = "project"  # aggregate id: the project slug
    MODEL = "model"  # aggregate id: the model id
    VIEW = "view"  # aggregate id: the saved view id (shared from the Runs page)


_AGGREGATE = {
    TargetKind.RUN: envelope_pb2.AGGREGATE_KIND_RUN,
    TargetKind.PROJECT: envelope_pb2.AGGREGATE_KIND_PROJECT,
    TargetKind.MODEL: envelope_pb2.AGGREGATE_KIND_MODEL,
    TargetKind.VIEW: envelope_pb2.AGGREGATE_KIND_VIEW,
}
_ACCESS = {
    "view": collaboration_pb2.ACCESS_LEVEL_VIEW,
    "comment": collaboration_pb2.ACCESS_LEVEL_COMMENT,
    "edit": collaboration_pb2.ACCESS_LEVEL_EDIT,
}
_PRINCIPAL = {"user": collaboration_pb2.PRINCIPAL_KIND_USER}
_PRINCIPAL["team"] = collaboration_pb2.PRINCIPAL_KIND_TEAM


@dataclass(frozen=True)
class Target:
    """What an event is about, with the team and project it belongs to."""

    kind: TargetKind
    id: str
    team: str
    project: str = ""  # required for runs and projects (for a project, its slug)

    @classmethod
    def project_of(cls, team: str, project: str) -> Target:
        return cls(TargetKind.PROJECT, project, team, project)

    @property
    def label(self) -> str:
        return f"{self.kind.value} {self.id}"


@dataclass(frozen=True)
class Anchor:
    """A comment's place on a chart: a metric key and an inclusive step range."""

    metric_key: str
    step_min: int
    step_max: int


def mentions_in(markdown: str) -> tuple[str, ...]:
    """The ``@user`` ids a comment mentions, in order of first appearance (not in code spans)."""
    outside_code = re.sub(r"`[^`]*`", "", markdown)
    found = dict.fromkeys(match.group(1) for match in _MENTION.finditer(outside_code))
    return tuple(found)


def envelope(
    target: Target,
    person: str,
    *,
    sequence: int = 0,
    occurred_at_ns: int | None = None,
    event_id: str | None = None,
) -> envelope_pb2.Envelope:
    """The envelope of an event about ``target`` caused by ``person`` (through the portal)."""
    return new_envelope(
        _AGGREGATE[target.kind],
        target.id,
        team=target.team,
        project=target.project,
        sequence=sequence,
        occurred_at_ns=occurred_at_ns,
        event_id=event_id,
        actor=envelope_pb2.Actor(on_behalf_of=person),
    )


def comment_added(
    target: Target,
    person: str,
    body_markdown: str,
    *,
    comment_id: str | None = None,
    anchor: Anchor | None = None,
    reply_to: str = "",
    sequence: int = 0,
) -> events_pb2.Event:
    """A new comment (``comment_id`` defaults to a fresh UUIDv7); mentions come from the body."""
    event = events_pb2.Event(envelope=envelope(target, person, sequence=sequence))
    added = event.comment_added
    added.comment_id = comment_id or new_uuid7()
    added.body_markdown = body_markdown
    added.reply_to = reply_to
    added.mentions.extend(mentions_in(body_markdown))
    if anchor is not None:
        added.anchor.metric_key = anchor.metric_key
        added.anchor.step_min = anchor.step_min
        added.anchor.step_max = anchor.step_max
    return event


def comment_edited(
    target: Target, person: str, comment_id: str, body_markdown: str, *, sequence: int = 0
) -> events_pb2.Event:
    """A new version of a comment's body; the earlier versions stay in the history."""
    event = events_pb2.Event(envelope=envelope(target, person, sequence=sequence))
    event.comment_edited.comment_id = comment_id
    event.comment_edited.body_markdown = body_markdown
    event.comment_edited.mentions.extend(mentions_in(body_markdown))
    return event


def comment_deleted(
    target: Target, person: str, comment_id: str, reason: str = "", *, sequence: int = 0
) -> events_pb2.Event:
    """A tombstone: the comment stays in its thread as deleted (admins still see its body)."""
    event = events_pb2.Event(envelope=envelope(target, person, sequence=sequence))
    event.comment_deleted.comment_id = comment_id
    event.comment_deleted.reason = reason
    return event


def decision_recorded(
    target: Target,
    person: str,
    title: str,
    body_markdown: str = "",
    run_ids: Sequence[str] = (),
    *,
    decision_id: str | None = None,
    sequence: int = 0,
) -> events_pb2.Event:
    """A decision (a kind of comment that provenance reports quote), naming the runs it is about."""
    if target.kind is TargetKind.MODEL:
        raise ValueError("decisions are recorded on a run or a project")
    event = events_pb2.Event(envelope=envelope(target, person, sequence=sequence))
    decision = event.decision_recorded
    decision.decision_id = decision_id or new_uuid7()
    decision.title = title
    decision.body_markdown = body_markdown
    decision.run_ids.extend(run_ids)
    return event


def ownership_transferred(
    target: Target, person: str, from_user: str, to_user: str, reason: str, *, sequence: int = 0
) -> events_pb2.Event:
    """``target`` now belongs to ``to_user``; ``person`` made the change for ``reason``."""
    event = events_pb2.Event(envelope=envelope(target, person, sequence=sequence))
    event.ownership_transferred.from_user = from_user
    event.ownership_transferred.to_user = to_user
    event.ownership_transferred.reason = reason
    return event


def project_notes_set(team: str, project: str, person: str, body_markdown: str) -> events_pb2.Event:
    """The project's notes (its README) are now ``body_markdown``."""
    event = events_pb2.Event(envelope=envelope(Target.project_of(team, project), person))
    event.project_notes_set.body_markdown = body_markdown
    return event


def resource_shared(
    target: Target,
    person: str,
    grantee_kind: str,
    grantee_id: str,
    access: str = "view",
    note: str = "",
    *,
    sequence: int = 0,
) -> events_pb2.Event:
    """Give a user or a team (``grantee_kind``) ``access`` (view/comment/edit) to ``target``."""
    event = events_pb2.Event(envelope=envelope(target, person, sequence=sequence))
    shared = event.resource_shared
    shared.grantee.kind = _PRINCIPAL[grantee_kind]
    shared.grantee.id = grantee_id
    shared.access = _ACCESS[access]
    shared.note = note
    return event


def unsequenced_runs(events: Sequence[events_pb2.Event]) -> list[str]:
    """The runs that :func:`assign_run_sequences` needs the highest sequence of, in order."""
    runs = (
        e.envelope.aggregate_id
        for e in events
        if e.envelope.aggregate_kind == envelope_pb2.AGGREGATE_KIND_RUN and not e.envelope.sequence
    )
    return list(dict.fromkeys(runs))


def assign_run_sequences(events: Sequence[events_pb2.Event], highest: Callable[[str], int]) -> None:
    """Give each unsequenced run event a sequence above the run's highest (``highest(run_id)``),
    increasing within the batch, as ingest requires (rule ``sequence_increasing``)."""
    next_of: dict[str, int] = {}
    for event in events:
        env = event.envelope
        if env.aggregate_kind != envelope_pb2.AGGREGATE_KIND_RUN or env.sequence:
            continue
        run_id = env.aggregate_id
        if run_id not in next_of:
            next_of[run_id] = highest(run_id) + 1
        env.sequence = next_of[run_id]
        next_of[run_id] += 1


def resource_unshared(
    target: Target, person: str, grantee_kind: str, grantee_id: str, *, sequence: int = 0
) -> events_pb2.Event:
    event = events_pb2.Event(envelope=envelope(target, person, sequence=sequence))
    event.resource_unshared.grantee.kind = _PRINCIPAL[grantee_kind]
    event.resource_unshared.grantee.id = grantee_id
    return event


def model_registered(target: Target, person: str, description: str = "") -> events_pb2.Event:
    """The model ``target.id`` (its name) now exists in ``target``'s team and project."""
    event = events_pb2.Event(envelope=envelope(target, person))
    event.model_registered.name = target.id
    event.model_registered.description = description
    return event


def model_version_created(
    target: Target,
    person: str,
    run_id: str,
    artifact_name: str,
    artifact_uri: str,
    artifact_sha256: str,
    description: str = "",
) -> events_pb2.Event:
    """A new version of model ``target.id`` from an artifact ``run_id`` logged. No number: the
    registry numbers versions in the order they reach the model's log (docs/models.md)."""
    event = events_pb2.Event(envelope=envelope(target, person))
    created = event.model_version_created
    created.run_id = run_id
    created.artifact_name = artifact_name
    created.artifact_uri = artifact_uri
    created.artifact_sha256 = artifact_sha256
    created.description = description
    return event


def model_version_built_by(
    target: Target, person: str, version: int, run_id: str
) -> events_pb2.Event:
    """The lineage edge "version ``version`` of model ``target.id`` was built by ``run_id``" (as
    the SDK records it once the version has its number)."""
    event = events_pb2.Event(envelope=envelope(target, person))
    edge = event.lineage_edge_recorded
    edge.source.kind = lineage_pb2.LINEAGE_NODE_KIND_MODEL_VERSION
    edge.source.id = target.id
    edge.source.version = version
    edge.relation = lineage_pb2.LINEAGE_RELATION_BUILT_BY
    edge.target.kind = lineage_pb2.LINEAGE_NODE_KIND_RUN
    edge.target.id = run_id
    return event


def model_alias_set(
    target: Target, person: str, alias: str, version: int, reason: str
) -> events_pb2.Event:
    """``alias`` of model ``target.id`` now points at ``version`` (moved from wherever it was)."""
    event = events_pb2.Event(envelope=envelope(target, person))
    event.model_alias_set.CopyFrom(
        models_pb2.ModelAliasSet(alias=alias, version=version, reason=reason)
    )
    return event


def model_alias_removed(target: Target, person: str, alias: str, reason: str) -> events_pb2.Event:
    """Model ``target.id`` no longer has ``alias``."""
    event = events_pb2.Event(envelope=envelope(target, person))
    event.model_alias_removed.CopyFrom(models_pb2.ModelAliasRemoved(alias=alias, reason=reason))
    return event


RUN_EDITS = (
    "run_renamed", "run_description_set", "tags_set", "tags_removed", "run_archived", "run_unarchived",
)  # fmt: skip


@dataclass(frozen=True)
class RunEdit:
    """One housekeeping change to a run (the same events as ``cairn.Api``'s run edits, W15)."""

    kind: str  # one of RUN_EDITS
    text: str = ""  # the new name, the description, or why it was archived / restored
    tags: tuple[tuple[str, str], ...] = ()  # tags_set: (key, value) pairs
    keys: tuple[str, ...] = ()  # tags_removed


def run_edited(
    target: Target, person: str, edit: RunEdit, *, sequence: int = 0
) -> events_pb2.Event:
    """The event of ``edit`` on run ``target`` by ``person`` (ingest validates lengths and keys)."""
    if edit.kind not in RUN_EDITS:
        raise ValueError(f"not a run edit: {edit.kind!r}")
    event = events_pb2.Event(envelope=envelope(target, person, sequence=sequence))
    if edit.kind == "run_renamed":
        event.run_renamed.name = edit.text
    elif edit.kind == "run_description_set":
        event.run_description_set.description = edit.text
    elif edit.kind == "tags_set":
        event.tags_set.tags.extend(runs_pb2.Tag(key=k, value=v) for k, v in edit.tags)
    elif edit.kind == "tags_removed":
        event.tags_removed.keys.extend(edit.keys)
    elif edit.kind == "run_archived":
        event.run_archived.reason = edit.text
    else:
        event.run_unarchived.reason = edit.text
    return event
