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

from typing import TYPE_CHECKING, Any

from cairn_contract.v1 import events_pb2

if TYPE_CHECKING:
    from domain.columns import ColumnBuffer
    from domain.projections import LogPosition


def _order(event: events_pb2.Event) -> dict[str, Any]:
    env = event.envelope
    return {"sequence": env.sequence, "occurred_at": env.occurred_at_ns, "event_id": env.event_id}


def _actor(event: events_pb2.Event) -> str:
    actor = event.envelope.actor
    return actor.on_behalf_of or actor.id


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
        actor=_actor(event),
        occurred_at=env.occurred_at_ns,
    )


def version_updated(buffers: dict[str, ColumnBuffer], event: events_pb2.Event) -> None:
    """A description change and tag changes of one version, one row each."""
    u = event.model_version_updated
    common = {
        "model_id": event.envelope.aggregate_id,
        "version": u.version,
        "actor": _actor(event),
        **_order(event),
    }
    edits = buffers["model_version_edits"]
    if u.set_description:
        edits.append(field="description", key="", value=u.description, removed=False, **common)
    for tag in u.set_tags:
        edits.append(field="tag", key=tag.key, value=tag.value, removed=False, **common)
    for key in u.removed_tags:
        edits.append(field="tag", key=key, value="", removed=True, **common)
