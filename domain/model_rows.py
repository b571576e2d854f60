"""Rows of the model registry's own tables: the log order of versions, and version edits.

A model's version numbers are not chosen by writers: the registry numbers versions 1, 2, 3, ...
in the order their ``model_version_created`` events stand in the model's partition (all events
of one model share the partition key, the model id, so the partition holds them in one total
order that every consumer and every replay sees alike). This module records that order
(``model_version_log``: the version's facts with its event's offset; one row, so a reader never
sees a version without its place); the view ``model_registry_versions``
(query/model_schema.py) turns it into numbers. Pure: no I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cairn_contract.v1 import events_pb2, models_pb2
from domain import row_fields as rows

if TYPE_CHECKING:
    from domain.columns import ColumnBuffer
    from domain.projections import LogPosition, Projection

Event = events_pb2.Event


def version_created(
    buffers: dict[str, ColumnBuffer], event: events_pb2.Event, position: LogPosition | None
) -> None:
    """Record where the version's creation stands in its model's partition."""
    if position is None:
        raise ValueError("a model version's position in the log is unknown")
    env, v = event.envelope, event.model_version_created
    buffers["model_version_log"].append(
        model_id=env.aggregate_id,
        event_id=env.event_id,
        source_partition=position.partition,
        source_offset=position.offset,
        run_id=v.run_id,
        artifact_name=v.artifact_name,
        artifact_uri=v.artifact_uri,
        artifact_sha256=v.artifact_sha256,
        description=v.description,
        team=env.team,
        project=env.project,
        actor=rows.actor(event),
        occurred_at=env.occurred_at_ns,
    )


def version_updated(buffers: dict[str, ColumnBuffer], event: events_pb2.Event) -> None:
    """A description change and tag changes of one version, one row each."""
    u = event.model_version_updated
    common = {
        "model_id": event.envelope.aggregate_id,
        "version": u.version,
        "actor": rows.actor(event),
        **rows.order(event),
    }
    edits = buffers["model_version_edits"]
    if u.set_description:
        edits.append(field="description", key="", value=u.description, removed=False, **common)
    for tag in u.set_tags:
        edits.append(field="tag", key=tag.key, value=tag.value, removed=False, **common)
    for key in u.removed_tags:
        edits.append(field="tag", key=key, value="", removed=True, **common)


# --- the model events' projections (named after their event types) ------------------------


def model_registered(p: Projection, e: Event) -> None:
    m = e.model_registered
    p.buffers["models"].append(
        model_id=e.envelope.aggregate_id,
        name=m.name,
        description=m.description,
        actor=rows.actor(e),
        **rows.scope(e),
        **rows.order(e),
    )


def model_version_created(p: Projection, e: Event) -> None:
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
        actor=rows.actor(e),
        **rows.scope(e),
        **rows.order(e),
    )
    version_created(p.buffers, e, p.position)
    if v.version:  # older writers chose the number; new ones record the edge once it is known
        built_by = ("run", v.run_id, 0, "")
        rows.edge(p, e, ("model_version", model_id, v.version, ""), "built_by", built_by)
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
        actor=rows.actor(e),
        **rows.order(e),
    )


def model_version_stage_changed(p: Projection, e: Event) -> None:
    s = e.model_version_stage_changed
    _stage(
        p,
        e,
        s.version,
        "stage",
        rows.enum_label(models_pb2.ModelStage, s.stage),
        removed=False,
        reason=s.reason,
    )


def model_alias_set(p: Projection, e: Event) -> None:
    a = e.model_alias_set
    _stage(p, e, a.version, "alias", a.alias, removed=False, reason=a.reason)


def model_alias_removed(p: Projection, e: Event) -> None:
    a = e.model_alias_removed
    _stage(p, e, 0, "alias", a.alias, removed=True, reason=a.reason)


def model_version_updated(p: Projection, e: Event) -> None:
    version_updated(p.buffers, e)
