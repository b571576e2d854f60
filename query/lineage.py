"""The lineage graph around a run, dataset, artifact or model version.

Edges are stored as recorded (``run used dataset``, ``run produced artifact``, ``model_version
built_by run``). For walking they are read in the direction data flows: a dataset a run used is
*upstream* of the run, an artifact it produced is *downstream*, and the run that built a model
version is upstream of that version. :func:`lineage` walks breadth-first, one statement per
level (the frontier bound as a parameter), remembering visited nodes, so the work is bounded by
the number of distinct nodes, never by the number of paths: a dataset shared by 500 runs costs
500 nodes, not 500 times every path through them. ClickHouse's ``WITH RECURSIVE`` would save
round trips but re-expands every path (or, with ``DISTINCT`` per level, every node once per
level) and re-reads the edge table per level; it measured slower here.

Only edges the caller may see are followed: an edge is visible if its team and project are, or
if either end is an object shared with the caller. A run or model version as the root must be
visible itself (else NotFoundError); datasets and artifacts are content-addressed and have no
owner, so their graph is simply whatever visible edges reach them.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

from clickhouse_connect.driver.client import Client

from cairn_contract.errors import NotFoundError, ValidationError
from query import _execute
from query.access import Caller, Visibility

MAX_DEPTH = 10
MAX_NODES = 5_000


class NodeKind(StrEnum):
    RUN = "run"  # id: run id
    DATASET = "dataset"  # id: content digest
    ARTIFACT = "artifact"  # id: sha256
    MODEL_VERSION = "model_version"  # id: model id, plus version


@dataclass(frozen=True)
class Node:
    kind: str
    id: str
    version: int = 0  # model versions only


@dataclass(frozen=True)
class GraphNode:
    node: Node
    name: str  # dataset / artifact name where recorded
    depth: int  # hops from the root


@dataclass(frozen=True)
class Edge:
    source: Node
    relation: str  # used / produced / built_by (as recorded: source -relation-> target)
    target: Node
    team: str
    project: str
    recorded_by: str
    recorded_at: datetime


@dataclass(frozen=True)
class LineageGraph:
    root: Node
    direction: str
    depth: int
    nodes: tuple[GraphNode, ...]  # the root first, then by depth
    edges: tuple[Edge, ...]
    truncated: bool  # the walk stopped at MAX_NODES before reaching ``depth``

    def upstream_of(self, node: Node) -> tuple[Node, ...]:
        """Direct inputs of ``node`` within this graph."""
        return tuple(
            edge.target if edge.relation != "produced" else edge.source
            for edge in self.edges
            if (edge.source if edge.relation != "produced" else edge.target) == node
        )


# (condition matching a frontier on the side data flows *into*, on the side it flows *out of*)
_UPSTREAM = (
    "(relation != 'produced' AND (source_kind, source_id, source_version) IN {frontier})"
    " OR (relation = 'produced' AND (target_kind, target_id, target_version) IN {frontier})"
)
_DOWNSTREAM = (
    "(relation != 'produced' AND (target_kind, target_id, target_version) IN {frontier})"
    " OR (relation = 'produced' AND (source_kind, source_id, source_version) IN {frontier})"
)
_FRONTIER = "{frontier:Array(Tuple(String, String, UInt64))}"


_EDGES_SQL = """
SELECT source_kind, source_id, source_version, any(source_name) AS source_label, relation,
    target_kind, target_id, target_version, any(target_name) AS target_label,
    any(team) AS edge_team, any(project) AS edge_project, argMax(actor, sequence) AS recorded_by,
    max(occurred_at) AS recorded_at
FROM (SELECT * FROM {table} WHERE ({match}) AND {visible})
GROUP BY source_kind, source_id, source_version, relation, target_kind, target_id, target_version
"""


def _level_sql(vis: Visibility, direction: str) -> str:
    """The visible edges at the frontier (a bound list of nodes, matched through the primary
    key). One level per statement: fetching the next level by a subquery in the same statement
    was measured slower than a second round trip, as the subquery's set defeats the index."""
    match = {"upstream": _UPSTREAM, "downstream": _DOWNSTREAM}.get(
        direction, f"{_UPSTREAM} OR {_DOWNSTREAM}"
    )
    visible = vis.predicate(
        "team",
        "project",
        objects=[
            ("if(source_kind = 'model_version', 'model', source_kind)", "source_id"),
            ("if(target_kind = 'model_version', 'model', target_kind)", "target_id"),
        ],
    )
    return _EDGES_SQL.format(
        table=vis.table("lineage"), match=match.replace("{frontier}", _FRONTIER), visible=visible
    )


def _check_root(client: Client, vis: Visibility, root: Node) -> None:
    """A run or model version as root must be visible; the same NotFoundError whether it is
    missing or hidden, so existence does not leak."""
    params: dict[str, object] = {"id": root.id, **vis.parameters}
    if root.kind == NodeKind.RUN:
        sql = f"SELECT count() FROM ({vis.visible_runs('run_id = {id:String}')})"
    elif root.kind == NodeKind.MODEL_VERSION:
        visible = vis.predicate("team", "project", kind="'model'", object_id="model_id")
        sql = (
            f"SELECT count() FROM {vis.table('model_versions_current')}"
            f" WHERE model_id = {{id:String}}"
            f" AND version = {{version:UInt64}} AND {visible}"
        )
        params["version"] = root.version
    else:
        return
    if not _execute.scalar(client, sql, params):
        shown = root.id if root.kind == NodeKind.RUN else f"{root.id} v{root.version}"
        raise NotFoundError(f"no such {root.kind} (or not visible to you): {shown}", field="node")


def lineage(
    client: Client,
    caller: Caller,
    node: Node,
    direction: Literal["upstream", "downstream", "both"] = "upstream",
    depth: int = 5,
    *,
    database: str | None = None,
) -> LineageGraph:
    """The graph within ``depth`` hops of ``node`` in ``direction`` (visible edges only)."""
    if direction not in ("upstream", "downstream", "both"):
        raise ValidationError(
            f"direction must be upstream, downstream or both, got {direction!r}",
            field="direction",
            rule="enum",
        )
    if not 1 <= depth <= MAX_DEPTH:
        raise ValidationError(
            f"depth must be between 1 and {MAX_DEPTH}", field="depth", rule="range"
        )
    if node.kind not in set(NodeKind):
        raise ValidationError(f"unknown node kind {node.kind!r}", field="node.kind", rule="enum")
    vis = Visibility.load(client, caller, database)
    with ThreadPoolExecutor(max_workers=1) as pool:
        # The root check runs beside the first level: its answer is only needed before
        # anything is returned, and it saves a round trip on a latency-bound walk.
        root_check = pool.submit(_check_root, client, vis, node)
        graph = _walk(client, vis, node, direction, depth)
        root_check.result()
    return graph


def _walk(client: Client, vis: Visibility, node: Node, direction: str, depth: int) -> LineageGraph:
    sql = _level_sql(vis, direction)
    depths: dict[Node, int] = {node: 0}
    names: dict[Node, str] = {}
    edges: dict[tuple[Node, str, Node], Edge] = {}
    frontier = [node]
    truncated = False
    for level in range(1, depth + 1):
        if not frontier:
            break
        found = _execute.rows(
            client,
            sql,
            {"frontier": [(n.kind, n.id, n.version) for n in frontier], **vis.parameters},
        )
        frontier = []
        for row in found:
            source = Node(row["source_kind"], row["source_id"], int(row["source_version"]))
            target = Node(row["target_kind"], row["target_id"], int(row["target_version"]))
            edges[(source, row["relation"], target)] = Edge(
                source,
                row["relation"],
                target,
                row["edge_team"],
                row["edge_project"],
                row["recorded_by"],
                row["recorded_at"],
            )
            # A forked_from edge's target label is the fork step ("step N"), not the run's name.
            target_label = row["target_label"] if row["relation"] != "forked_from" else ""
            for end, name in ((source, row["source_label"]), (target, target_label)):
                if name:
                    names.setdefault(end, name)
                if end not in depths:
                    if len(depths) >= MAX_NODES:
                        truncated = True
                        continue
                    depths[end] = level
                    frontier.append(end)
    kept = set(depths)
    return LineageGraph(
        root=node,
        direction=direction,
        depth=depth,
        nodes=tuple(
            GraphNode(n, names.get(n, ""), d)
            for n, d in sorted(depths.items(), key=lambda item: (item[1], item[0].kind, item[0].id))
        ),
        edges=tuple(edge for edge in edges.values() if edge.source in kept and edge.target in kept),
        truncated=truncated,
    )
