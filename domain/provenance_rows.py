"""Rows that a run's provenance projects into: code versions, environments, datasets, artifacts
and lineage edges.

Each public function is named after the event type it projects (``domain.projections`` finds it
by that name for every type in ``cairn_contract.event_types.EVENT_TYPES``) and appends the event's
rows to a :class:`~domain.projections.Projection`. Pure: no I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cairn_contract.v1 import common_pb2, events_pb2, lineage_pb2, provenance_pb2
from domain import row_fields as rows

if TYPE_CHECKING:
    from domain.projections import Projection

Event = events_pb2.Event


def code_version_recorded(p: Projection, e: Event) -> None:
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
        **rows.order(e),
    )
    for field, value in (
        ("git_commit", c.commit),
        ("git_branch", c.branch),
        ("git_remote", c.git_remote),
    ):
        rows.run_field(p, e, field, value)
    rows.run_field(p, e, "git_dirty", "1" if c.dirty else "0")


def environment_recorded(p: Projection, e: Event) -> None:
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
        **rows.order(e),
    )
    for package in env.packages:
        p.buffers["environment_packages"].append(
            run_id=run_id,
            name=package.name,
            version=package.version,
            source=package.source,
            **rows.order(e),
        )


def _role(role: int) -> str:
    return rows.enum_label(common_pb2.DataRole, role)


def dataset_recorded(p: Projection, e: Event) -> None:
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
        **rows.scope(e),
        **rows.order(e),
    )
    relation = "produced" if d.role == common_pb2.DATA_ROLE_OUTPUT else "used"
    rows.edge(p, e, ("run", run_id, 0, ""), relation, ("dataset", d.digest, 0, d.name))


def artifact_logged(p: Projection, e: Event) -> None:
    a = e.artifact_logged
    run_id = e.envelope.aggregate_id
    p.buffers["artifacts"].append(
        run_id=run_id,
        name=a.name,
        kind=rows.enum_label(provenance_pb2.ArtifactKind, a.kind),
        uri=a.uri,
        sha256=a.sha256,
        size_bytes=a.size_bytes,
        metadata={kv.key: kv.value for kv in a.metadata},
        role=_role(a.role),
        **rows.scope(e),
        **rows.order(e),
    )
    relation = "used" if a.role == common_pb2.DATA_ROLE_INPUT else "produced"
    rows.edge(p, e, ("run", run_id, 0, ""), relation, ("artifact", a.sha256, 0, a.name))


def _node(node: lineage_pb2.LineageNode) -> tuple[str, str, int, str]:
    return (
        rows.enum_label(lineage_pb2.LineageNodeKind, node.kind),
        node.id,
        node.version,
        node.name,
    )


def lineage_edge_recorded(p: Projection, e: Event) -> None:
    edge = e.lineage_edge_recorded
    relation = rows.enum_label(lineage_pb2.LineageRelation, edge.relation)
    rows.edge(p, e, _node(edge.source), relation, _node(edge.target))
