"""Projecting events into rows of the read tables (pure: no I/O, no infrastructure imports).

:class:`Projection` takes serialized events one at a time, with their position in the log, and
accumulates the rows they imply in :class:`~domain.columns.ColumnBuffer` s, one per table. The
rows are a function of the event alone, so projecting an event twice yields identical rows with
identical identities, and the tables' deduplication makes that harmless (docs/schema.md).

An event that cannot be decoded or projected raises :class:`PoisonEvent` and leaves no partial
rows behind, so the caller can route it to the dead-letter topic and go on.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from google.protobuf.message import DecodeError

from cairn_contract.event_types import upcast
from cairn_contract.v1 import (
    collaboration_pb2,
    common_pb2,
    envelope_pb2,
    events_pb2,
    identity_pb2,
    lineage_pb2,
    metrics_pb2,
    models_pb2,
    provenance_pb2,
    runs_pb2,
)
from domain import automation_rows, model_rows, tables
from domain.columns import ColumnBuffer
from domain.ownership import AggregateOwners, check_event, claim_for, ownership_key

Event = events_pb2.Event
_TERMINAL = {runs_pb2.RUN_STATUS_FINISHED, runs_pb2.RUN_STATUS_FAILED, runs_pb2.RUN_STATUS_KILLED}


class PoisonEvent(Exception):
    """An event that cannot be projected; ``reason`` says why (it goes to the dead-letter topic)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class LogPosition:
    topic: str
    partition: int
    offset: int


class Projection:
    """The rows implied by a sequence of events, per table."""

    def __init__(self) -> None:
        self.buffers = {schema.name: ColumnBuffer(schema) for schema in tables.ALL_TABLES}
        self.position: LogPosition | None = None  # of the event being projected
        self.events = 0
        self.points = 0

    @property
    def rows(self) -> int:
        return sum(buffer.rows for buffer in self.buffers.values())

    def nonempty(self) -> dict[str, ColumnBuffer]:
        return {name: buffer for name, buffer in self.buffers.items() if buffer.rows}

    def add(
        self, payload: bytes, position: LogPosition, owners: AggregateOwners | None = None
    ) -> None:
        """Project one serialized event; raise :class:`PoisonEvent` leaving nothing behind.

        With ``owners``, an event for an aggregate another team owns (domain/ownership.py) is
        poison too, and an accepted event's claim is folded into ``owners``."""
        event = decode(payload)
        kind = event.WhichOneof("payload") or ""
        key = ownership_key(event) if owners is not None else None
        owner = owners.owner(key) if owners is not None and key is not None else None
        if key is not None:
            violation = check_event(event, owner)
            if violation is not None:
                raise PoisonEvent(
                    f"{kind} event {event.envelope.event_id!r} refused: {violation.message} "
                    f"(rule {violation.refusal.value}, owner {violation.owner_team!r})"
                )
        handler = _HANDLERS.get(kind)
        if handler is None:
            raise PoisonEvent(f"event {event.envelope.event_id!r} has no known payload")
        staged = Projection()
        staged.position = position
        try:
            _archive(staged, event, payload, kind, position)  # as written: the version it had
            handler(staged, upcast(event))
        except (ValueError, TypeError, KeyError, OverflowError) as exc:
            raise PoisonEvent(
                f"projecting {kind} event {event.envelope.event_id!r} failed: {exc}"
            ) from exc
        for name, buffer in staged.nonempty().items():
            self.buffers[name].absorb(buffer)
        if owners is not None and key is not None:
            claim = claim_for(event, owner)
            if claim is not None:
                owners.apply(claim)
        self.events += 1
        self.points += staged.points


def decode(payload: bytes) -> Event:
    event = Event()
    try:
        event.ParseFromString(payload)
    except DecodeError as exc:
        raise PoisonEvent(f"undecodable event ({len(payload)} bytes): {exc}") from exc
    if not event.envelope.event_id:
        raise PoisonEvent("event without envelope.event_id")
    return event


def enum_label(enum_type: Any, value: int) -> str:
    """``RUN_STATUS_FINISHED`` -> ``finished``: the readable names SQL users see."""
    try:
        name: str = enum_type.Name(value)
    except ValueError:
        return str(value)
    prefix = enum_type.Name(0).removesuffix("UNSPECIFIED")
    return name.removeprefix(prefix).lower()


# --- shared column groups ---------------------------------------------------------------------


def _order(event: Event) -> dict[str, Any]:
    env = event.envelope
    return {"sequence": env.sequence, "occurred_at": env.occurred_at_ns, "event_id": env.event_id}


def _scope(event: Event) -> dict[str, str]:
    return {"team": event.envelope.team, "project": event.envelope.project}


def _target(event: Event) -> dict[str, str]:
    env = event.envelope
    return {
        "target_kind": enum_label(envelope_pb2.AggregateKind, env.aggregate_kind),
        "target_id": env.aggregate_id,
    }


def _actor(event: Event) -> str:
    """The person responsible: the user a trusted service (the portal) acted for, else the caller."""
    actor = event.envelope.actor
    return actor.on_behalf_of or actor.id


def _actor_kind(event: Event) -> str:
    """``user`` when a trusted service acted for a person: the person acted, the service (still
    in the archived envelope's ``actor.id``/``key_id``) was only the channel."""
    actor = event.envelope.actor
    if actor.on_behalf_of:
        return enum_label(envelope_pb2.ActorKind, envelope_pb2.ACTOR_KIND_USER)
    return enum_label(envelope_pb2.ActorKind, actor.kind)


def _run_field(p: Projection, event: Event, field: str, value: str) -> None:
    p.buffers["run_fields"].append(
        run_id=event.envelope.aggregate_id, field=field, value=value, **_order(event)
    )


def _edge(
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
        actor=_actor(event),
        **_scope(event),
        **_order(event),
    )


# Events whose content is its own table's rows (points, samples, bins): the archive row keeps
# their envelope and log position but not their bytes, which are the bulk of all traffic and which
# nothing reads from here (Kafka is the archive of record; replay reads Kafka).
_CONTENT_PROJECTED_ELSEWHERE = frozenset({"metrics", "system_metrics", "histograms"})


def _archive(p: Projection, event: Event, payload: bytes, kind: str, pos: LogPosition) -> None:
    env = event.envelope
    p.buffers["events"].append(
        event_id=env.event_id,
        event_type=kind,
        schema_version=env.schema_version,
        aggregate_kind=enum_label(envelope_pb2.AggregateKind, env.aggregate_kind),
        aggregate_id=env.aggregate_id,
        sequence=env.sequence,
        occurred_at=env.occurred_at_ns,
        received_at=env.received_at_ns,
        actor_kind=_actor_kind(event),
        actor=_actor(event),
        team=env.team,
        project=env.project,
        payload=b"" if kind in _CONTENT_PROJECTED_ELSEWHERE else payload,
        source_topic=pos.topic,
        source_partition=pos.partition,
        source_offset=pos.offset,
    )


# --- runs ---------------------------------------------------------------------------------------


def _run_created(p: Projection, e: Event) -> None:
    r = e.run_created
    env = e.envelope
    fields = {
        "team": env.team,
        "project": env.project,
        "name": r.name,
        "owner": r.owner or _actor(e),
        "parent_run_id": r.parent_run_id,
        "sweep_id": r.sweep_id,
        "host": r.host,
        "command_line": json.dumps(list(r.command_line)),
        "created_at": str(env.occurred_at_ns),
        "started_at": str(r.started_at_ns or env.occurred_at_ns),
        "description": r.description,
        "status": "running",
    }
    for field, value in fields.items():
        _run_field(p, e, field, value)


def _run_status_changed(p: Projection, e: Event) -> None:
    s = e.run_status_changed
    _run_field(p, e, "status", enum_label(runs_pb2.RunStatus, s.status))
    _run_field(p, e, "status_reason", s.reason)
    _run_field(p, e, "exit_code", str(s.exit_code))
    _run_field(p, e, "traceback", s.traceback)
    _run_field(p, e, "finished_at", str(e.envelope.occurred_at_ns) if s.status in _TERMINAL else "")


def _run_resumed(p: Projection, e: Event) -> None:
    r = e.run_resumed
    _run_field(p, e, "status", "running")
    _run_field(p, e, "finished_at", "")
    _run_field(p, e, "resumed_at", str(r.resumed_at_ns or e.envelope.occurred_at_ns))
    if r.host:
        _run_field(p, e, "host", r.host)


def _run_renamed(p: Projection, e: Event) -> None:
    _run_field(p, e, "name", e.run_renamed.name)


def _run_description_set(p: Projection, e: Event) -> None:
    _run_field(p, e, "description", e.run_description_set.description)


def _run_archived(p: Projection, e: Event) -> None:
    _run_field(p, e, "archived", "1")
    _run_field(p, e, "archive_reason", e.run_archived.reason)


def _run_unarchived(p: Projection, e: Event) -> None:
    _run_field(p, e, "archived", "0")
    _run_field(p, e, "archive_reason", e.run_unarchived.reason)


def _param_value(value: runs_pb2.ParamValue) -> tuple[str, str, float]:
    """(type, text, number): number is NaN where the value is not numeric."""
    kind = value.WhichOneof("kind")
    if kind == "double_value":
        return "float", repr(value.double_value), value.double_value
    if kind == "int_value":
        return "int", str(value.int_value), float(value.int_value)
    if kind == "bool_value":
        return "bool", "true" if value.bool_value else "false", float(value.bool_value)
    if kind == "string_value":
        return "string", value.string_value, math.nan
    return "null", "", math.nan


def _params_set(p: Projection, e: Event) -> None:
    for param in e.params_set.params:
        value_type, text, number = _param_value(param.value)
        p.buffers["params"].append(
            run_id=e.envelope.aggregate_id,
            key=param.key,
            value_type=value_type,
            value=text,
            value_number=number,
            **_order(e),
        )


def _tags_set(p: Projection, e: Event) -> None:
    for tag in e.tags_set.tags:
        p.buffers["tags"].append(
            run_id=e.envelope.aggregate_id, key=tag.key, value=tag.value, removed=False, **_order(e)
        )


def _tags_removed(p: Projection, e: Event) -> None:
    for key in e.tags_removed.keys:
        p.buffers["tags"].append(
            run_id=e.envelope.aggregate_id, key=key, value="", removed=True, **_order(e)
        )


# --- metrics ------------------------------------------------------------------------------------


def _times(timestamps: Any, count: int, default_ns: int) -> np.ndarray[Any, Any]:
    if len(timestamps) == 0:
        return np.full(count, default_ns, dtype=np.int64)
    return np.asarray(timestamps, dtype=np.int64)


def _metrics(p: Projection, e: Event) -> None:
    env = e.envelope
    buffer = p.buffers["metrics"]
    for series in e.metrics.series:
        steps = np.asarray(series.steps, dtype=np.int64)
        values = np.asarray(series.values, dtype=np.float64)
        if len(steps) != len(values):
            raise ValueError(f"series {series.key!r}: {len(steps)} steps for {len(values)} values")
        times = _times(series.timestamps_ns, len(steps), env.occurred_at_ns)
        buffer.extend(
            len(steps),
            run_id=env.aggregate_id,
            key=series.key,
            step=steps,
            timestamp=times,
            value=values,
            sequence=env.sequence,
        )
        p.points += len(steps)


def _system_metrics(p: Projection, e: Event) -> None:
    env = e.envelope
    buffer = p.buffers["system_metrics"]
    for series in e.system_metrics.series:
        values = np.asarray(series.values, dtype=np.float64)
        times = _times(series.timestamps_ns, len(values), env.occurred_at_ns)
        if len(times) != len(values):
            raise ValueError(f"system series: {len(times)} timestamps for {len(values)} values")
        buffer.extend(
            len(values),
            run_id=env.aggregate_id,
            metric=enum_label(metrics_pb2.SystemMetric, series.metric),
            device=series.device,
            timestamp=times,
            value=values,
            sequence=env.sequence,
        )
        p.points += len(values)


def _histograms(p: Projection, e: Event) -> None:
    env = e.envelope
    buffer = p.buffers["histograms"]
    for histogram in e.histograms.histograms:
        if len(histogram.edges) != len(histogram.counts) + 1:
            raise ValueError(
                f"histogram {histogram.key!r}: {len(histogram.edges)} edges for "
                f"{len(histogram.counts)} counts"
            )
        buffer.append(
            run_id=env.aggregate_id,
            key=histogram.key,
            step=histogram.step,
            timestamp=histogram.timestamp_ns or env.occurred_at_ns,
            edges=list(histogram.edges),
            counts=list(histogram.counts),
            sequence=env.sequence,
        )


# --- provenance and lineage ---------------------------------------------------------------------


def _code_version(p: Projection, e: Event) -> None:
    c = e.code_version_recorded
    p.buffers["code_versions"].append(
        run_id=e.envelope.aggregate_id,
        git_remote=c.git_remote,
        branch=c.branch,
        commit=c.commit,
        dirty=c.dirty,
        diff=c.diff,
        diff_truncated=c.diff_truncated,
        diff_sha256=c.diff_sha256,
        entry_point=c.entry_point,
        **_order(e),
    )
    for field, value in (
        ("git_commit", c.commit),
        ("git_branch", c.branch),
        ("git_remote", c.git_remote),
    ):
        _run_field(p, e, field, value)
    _run_field(p, e, "git_dirty", "1" if c.dirty else "0")


def _environment(p: Projection, e: Event) -> None:
    env = e.environment_recorded
    run_id = e.envelope.aggregate_id
    p.buffers["environments"].append(
        run_id=run_id,
        python_version=env.python_version,
        python_implementation=env.python_implementation,
        os=env.os,
        os_version=env.os_version,
        cpu_model=env.cpu_model,
        cpu_count=env.cpu_count,
        memory_bytes=env.memory_bytes,
        gpus=[
            f"{gpu.name} ({gpu.memory_bytes} bytes, driver {gpu.driver_version})"
            for gpu in env.gpus
        ],
        cuda_version=env.cuda_version,
        cudnn_version=env.cudnn_version,
        container_image=env.container_image,
        container_digest=env.container_digest,
        hostname=env.hostname,
        package_count=len(env.packages),
        **_order(e),
    )
    for package in env.packages:
        p.buffers["environment_packages"].append(
            run_id=run_id,
            name=package.name,
            version=package.version,
            source=package.source,
            **_order(e),
        )


def _role(role: int) -> str:
    return enum_label(common_pb2.DataRole, role)


def _dataset(p: Projection, e: Event) -> None:
    d = e.dataset_recorded
    run_id = e.envelope.aggregate_id
    p.buffers["datasets"].append(
        run_id=run_id,
        name=d.name,
        uri=d.uri,
        digest=d.digest,
        size_bytes=d.size_bytes,
        manifest_digest=d.manifest_digest,
        file_count=d.file_count,
        role=_role(d.role),
        version=d.version,
        **_scope(e),
        **_order(e),
    )
    relation = "produced" if d.role == common_pb2.DATA_ROLE_OUTPUT else "used"
    _edge(p, e, ("run", run_id, 0, ""), relation, ("dataset", d.digest, 0, d.name))


def _artifact(p: Projection, e: Event) -> None:
    a = e.artifact_logged
    run_id = e.envelope.aggregate_id
    p.buffers["artifacts"].append(
        run_id=run_id,
        name=a.name,
        kind=enum_label(provenance_pb2.ArtifactKind, a.kind),
        uri=a.uri,
        sha256=a.sha256,
        size_bytes=a.size_bytes,
        metadata={kv.key: kv.value for kv in a.metadata},
        role=_role(a.role),
        **_scope(e),
        **_order(e),
    )
    relation = "used" if a.role == common_pb2.DATA_ROLE_INPUT else "produced"
    _edge(p, e, ("run", run_id, 0, ""), relation, ("artifact", a.sha256, 0, a.name))


def _node(node: lineage_pb2.LineageNode) -> tuple[str, str, int, str]:
    return (enum_label(lineage_pb2.LineageNodeKind, node.kind), node.id, node.version, node.name)


def _lineage_edge(p: Projection, e: Event) -> None:
    edge = e.lineage_edge_recorded
    relation = enum_label(lineage_pb2.LineageRelation, edge.relation)
    _edge(p, e, _node(edge.source), relation, _node(edge.target))


# --- models -------------------------------------------------------------------------------------


def _model_registered(p: Projection, e: Event) -> None:
    m = e.model_registered
    p.buffers["models"].append(
        model_id=e.envelope.aggregate_id,
        name=m.name,
        description=m.description,
        actor=_actor(e),
        **_scope(e),
        **_order(e),
    )


def _model_version_created(p: Projection, e: Event) -> None:
    v = e.model_version_created
    model_id = e.envelope.aggregate_id
    p.buffers["model_versions"].append(
        model_id=model_id,
        version=v.version,
        run_id=v.run_id,
        artifact_name=v.artifact_name,
        artifact_uri=v.artifact_uri,
        artifact_sha256=v.artifact_sha256,
        description=v.description,
        actor=_actor(e),
        **_scope(e),
        **_order(e),
    )
    model_rows.version_created(p.buffers, e, p.position)
    if v.version:  # older writers chose the number; new ones record the edge once it is known
        built_by = ("run", v.run_id, 0, "")
        _edge(p, e, ("model_version", model_id, v.version, ""), "built_by", built_by)
        _stage(p, e, v.version, "stage", "none", removed=False, reason="registered")


def _stage(
    p: Projection, e: Event, version: int, kind: str, name: str, *, removed: bool, reason: str
) -> None:
    p.buffers["model_stages"].append(
        model_id=e.envelope.aggregate_id,
        version=version,
        kind=kind,
        name=name,
        removed=removed,
        reason=reason,
        actor=_actor(e),
        **_order(e),
    )


def _model_stage_changed(p: Projection, e: Event) -> None:
    s = e.model_version_stage_changed
    _stage(
        p,
        e,
        s.version,
        "stage",
        enum_label(models_pb2.ModelStage, s.stage),
        removed=False,
        reason=s.reason,
    )


def _model_alias_set(p: Projection, e: Event) -> None:
    a = e.model_alias_set
    _stage(p, e, a.version, "alias", a.alias, removed=False, reason=a.reason)


def _model_alias_removed(p: Projection, e: Event) -> None:
    a = e.model_alias_removed
    _stage(p, e, 0, "alias", a.alias, removed=True, reason=a.reason)


# --- teams and people ---------------------------------------------------------------------------


def _team_created(p: Projection, e: Event) -> None:
    c = e.team_created
    p.buffers["teams"].append(
        team=e.envelope.aggregate_id,
        display_name=c.display_name,
        description=c.description,
        actor=_actor(e),
        **_order(e),
    )


def _membership(p: Projection, e: Event, action: str, user_id: str, **extra: str) -> None:
    row = {"display_name": "", "email": "", "role": "", "reason": ""} | extra
    p.buffers["memberships"].append(
        team=e.envelope.aggregate_id,
        user_id=user_id,
        action=action,
        actor=_actor(e),
        **row,
        **_order(e),
    )


def _member_joined(p: Projection, e: Event) -> None:
    m = e.member_joined
    role = enum_label(identity_pb2.MemberRole, m.role)
    _membership(p, e, "joined", m.user_id, display_name=m.display_name, email=m.email, role=role)


def _member_left(p: Projection, e: Event) -> None:
    _membership(p, e, "left", e.member_left.user_id, reason=e.member_left.reason)


def _api_key(p: Projection, e: Event, action: str, key_id: str, **extra: str) -> None:
    row = {"role": "", "name": "", "user_id": "", "reason": ""} | extra
    p.buffers["api_keys"].append(
        team=e.envelope.aggregate_id,
        key_id=key_id,
        action=action,
        actor=_actor(e),
        **row,
        **_order(e),
    )


def _api_key_issued(p: Projection, e: Event) -> None:
    k = e.api_key_issued
    role = enum_label(identity_pb2.ApiKeyRole, k.role)
    _api_key(p, e, "issued", k.key_id, role=role, name=k.name, user_id=k.user_id)


def _api_key_revoked(p: Projection, e: Event) -> None:
    _api_key(p, e, "revoked", e.api_key_revoked.key_id, reason=e.api_key_revoked.reason)


def _project_created(p: Projection, e: Event) -> None:
    c = e.project_created
    p.buffers["projects"].append(
        team=e.envelope.team,
        project=e.envelope.project or e.envelope.aggregate_id,
        display_name=c.display_name,
        description=c.description,
        actor=_actor(e),
        **_order(e),
    )


# --- collaboration ------------------------------------------------------------------------------


def _comment(p: Projection, e: Event, action: str, comment_id: str, **extra: Any) -> None:
    row: dict[str, Any] = {
        "body_markdown": "",
        "anchor_metric": "",
        "anchor_step_min": 0,
        "anchor_step_max": 0,
        "reply_to": "",
        "mentions": [],
        "reason": "",
    } | extra
    p.buffers["comments"].append(
        comment_id=comment_id,
        action=action,
        author=_actor(e),
        **_target(e),
        **_scope(e),
        **row,
        **_order(e),
    )


def _comment_added(p: Projection, e: Event) -> None:
    c = e.comment_added
    _comment(
        p,
        e,
        "added",
        c.comment_id,
        body_markdown=c.body_markdown,
        anchor_metric=c.anchor.metric_key,
        anchor_step_min=c.anchor.step_min,
        anchor_step_max=c.anchor.step_max,
        reply_to=c.reply_to,
        mentions=list(c.mentions),
    )


def _comment_edited(p: Projection, e: Event) -> None:
    c = e.comment_edited
    _comment(p, e, "edited", c.comment_id, body_markdown=c.body_markdown, mentions=list(c.mentions))


def _comment_deleted(p: Projection, e: Event) -> None:
    _comment(p, e, "deleted", e.comment_deleted.comment_id, reason=e.comment_deleted.reason)


def _decision(p: Projection, e: Event) -> None:
    d = e.decision_recorded
    p.buffers["decisions"].append(
        decision_id=d.decision_id,
        author=_actor(e),
        title=d.title,
        body_markdown=d.body_markdown,
        run_ids=list(d.run_ids),
        **_target(e),
        **_scope(e),
        **_order(e),
    )


def _share(
    p: Projection,
    e: Event,
    grantee: collaboration_pb2.Principal,
    access: str,
    active: bool,
    note: str,
) -> None:
    p.buffers["shares"].append(
        grantee_kind=enum_label(collaboration_pb2.PrincipalKind, grantee.kind),
        grantee_id=grantee.id,
        access=access,
        active=active,
        note=note,
        actor=_actor(e),
        **_target(e),
        **_scope(e),
        **_order(e),
    )


def _resource_shared(p: Projection, e: Event) -> None:
    s = e.resource_shared
    _share(p, e, s.grantee, enum_label(collaboration_pb2.AccessLevel, s.access), True, s.note)


def _resource_unshared(p: Projection, e: Event) -> None:
    _share(p, e, e.resource_unshared.grantee, "", False, "")


def _ownership(p: Projection, e: Event) -> None:
    o = e.ownership_transferred
    p.buffers["ownership"].append(
        from_user=o.from_user,
        to_user=o.to_user,
        reason=o.reason,
        actor=_actor(e),
        **_target(e),
        **_scope(e),
        **_order(e),
    )


def _project_notes(p: Projection, e: Event) -> None:
    p.buffers["project_notes"].append(
        team=e.envelope.team,
        project=e.envelope.project or e.envelope.aggregate_id,
        body_markdown=e.project_notes_set.body_markdown,
        actor=_actor(e),
        **_order(e),
    )


_HANDLERS: dict[str, Callable[[Projection, Event], None]] = {
    "run_created": _run_created,
    "run_status_changed": _run_status_changed,
    "run_resumed": _run_resumed,
    "run_renamed": _run_renamed,
    "run_description_set": _run_description_set,
    "run_archived": _run_archived,
    "run_unarchived": _run_unarchived,
    "params_set": _params_set,
    "tags_set": _tags_set,
    "tags_removed": _tags_removed,
    "metrics": _metrics,
    "system_metrics": _system_metrics,
    "histograms": _histograms,
    "code_version_recorded": _code_version,
    "environment_recorded": _environment,
    "dataset_recorded": _dataset,
    "artifact_logged": _artifact,
    "lineage_edge_recorded": _lineage_edge,
    "model_registered": _model_registered,
    "model_version_created": _model_version_created,
    "model_version_stage_changed": _model_stage_changed,
    "model_alias_set": _model_alias_set,
    "model_alias_removed": _model_alias_removed,
    "model_version_updated": lambda p, e: model_rows.version_updated(p.buffers, e),
    "team_created": _team_created,
    "member_joined": _member_joined,
    "member_left": _member_left,
    "api_key_issued": _api_key_issued,
    "api_key_revoked": _api_key_revoked,
    "project_created": _project_created,
    "comment_added": _comment_added,
    "comment_edited": _comment_edited,
    "comment_deleted": _comment_deleted,
    "decision_recorded": _decision,
    "resource_shared": _resource_shared,
    "resource_unshared": _resource_unshared,
    "ownership_transferred": _ownership,
    "project_notes_set": _project_notes,
    **automation_rows.HANDLERS,
}


def handled_event_types() -> frozenset[str]:
    return frozenset(_HANDLERS)
