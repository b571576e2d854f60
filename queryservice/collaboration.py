"""Lineage and discussion RPCs: ``Lineage`` and ``Comments``."""

from __future__ import annotations

from typing import Literal

from cairn_contract.errors import ValidationError
from cairn_contract.v1 import query_pb2
from query.collaboration import comments
from query.lineage import GraphNode, Node, lineage
from queryservice.messages import nanos
from queryservice.rpc import ReadContext, Rpc, unary


def _node(node: Node, name: str = "", depth: int = 0) -> query_pb2.LineageGraphNode:
    return query_pb2.LineageGraphNode(
        kind=node.kind, id=node.id, version=node.version, name=name, depth=depth
    )


def get_lineage(ctx: ReadContext, request: query_pb2.LineageRequest) -> query_pb2.LineageResponse:
    if not request.id:
        raise ValidationError("id is required", field="id", rule="required")
    direction = request.direction or "upstream"
    if direction not in ("upstream", "downstream", "both"):
        raise ValidationError(
            f"direction must be upstream, downstream or both, got {direction!r}",
            field="direction",
            rule="enum",
        )
    root = Node(request.kind or "run", request.id, request.version)
    way: Literal["upstream", "downstream", "both"] = (
        "downstream" if direction == "downstream" else "both" if direction == "both" else "upstream"
    )
    graph = lineage(ctx.client, ctx.caller, root, way, request.depth or 5, database=ctx.database)
    names = {g.node: g for g in graph.nodes}

    def described(node: Node) -> query_pb2.LineageGraphNode:
        found: GraphNode | None = names.get(node)
        return _node(node, found.name if found else "", found.depth if found else 0)

    return query_pb2.LineageResponse(
        nodes=[_node(g.node, g.name, g.depth) for g in graph.nodes],
        edges=[
            query_pb2.LineageGraphEdge(
                source=described(e.source),
                relation=e.relation,
                target=described(e.target),
                recorded_by=e.recorded_by,
                recorded_at_ns=nanos(e.recorded_at),
            )
            for e in graph.edges
        ],
        truncated=graph.truncated,
    )


def get_comments(
    ctx: ReadContext, request: query_pb2.CommentsRequest
) -> query_pb2.CommentsResponse:
    if not request.target_id:
        raise ValidationError("target_id is required", field="target_id", rule="required")
    found = comments(
        ctx.client,
        ctx.caller,
        request.target_kind or "run",
        request.target_id,
        database=ctx.database,
    )
    return query_pb2.CommentsResponse(
        comments=[
            query_pb2.Comment(
                comment_id=c.comment_id,
                author=c.author,
                body_markdown=c.body_markdown,
                reply_to=c.reply_to,
                anchor_metric=c.anchor_metric,
                anchor_step_min=c.anchor_step_min,
                anchor_step_max=c.anchor_step_max,
                created_at_ns=nanos(c.created_at),
                updated_at_ns=nanos(c.updated_at),
                deleted=c.deleted,
            )
            for c in found
        ]
    )


RPCS: tuple[Rpc, ...] = (
    unary("Lineage", query_pb2.LineageRequest, query_pb2.LineageResponse, get_lineage),
    unary("Comments", query_pb2.CommentsRequest, query_pb2.CommentsResponse, get_comments),
)
