"""The lineage graph as a picture: nodes laid out left to right in the direction data flows.

Edges are stored as recorded (``run used dataset``, ``run produced artifact``, ``model_version
built_by run``); drawn, they point the way data moves: dataset → run → artifact, run → model
version. Each node's column is its longest distance from a source, so inputs are always left of
what was made from them. Nodes are addressed in URLs as ``<kind>:<id>`` (``:<version>`` for
model versions), e.g. ``run:0190…``, ``dataset:sha256:ab…``, ``model_version:churn:2``.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go

from cairn_contract.errors import ValidationError
from query.lineage import Edge, LineageGraph, Node, NodeKind
from reports.format import short

STYLE = {  # kind -> (marker symbol, colour)
    NodeKind.DATASET: ("square", "#54A24B"),
    NodeKind.RUN: ("circle", "#4C78A8"),
    NodeKind.ARTIFACT: ("diamond", "#F58518"),
    NodeKind.MODEL_VERSION: ("star", "#E45756"),
}


def parse_node(text: str) -> Node:
    """``run:<id>``, ``dataset:<digest>``, ``artifact:<sha256>``, ``model_version:<id>:<n>``."""
    kind, sep, rest = text.partition(":")
    if not sep or not rest or kind not in {k.value for k in NodeKind}:
        raise ValidationError(f"not a lineage node: {text!r}", field="node", rule="node_format")
    if kind == NodeKind.MODEL_VERSION:
        model, _, version = rest.rpartition(":")
        if not model or not version.isdigit():
            raise ValidationError("model versions are model_version:<model id>:<n>", field="node")
        return Node(kind, model, int(version))
    return Node(kind, rest)


def format_node(node: Node) -> str:
    if node.kind == NodeKind.MODEL_VERSION:
        return f"{node.kind}:{node.id}:{node.version}"
    return f"{node.kind}:{node.id}"


def flow(edge: Edge) -> tuple[Node, Node]:
    """(from, to) in the direction data flows."""
    if edge.relation == "produced":
        return edge.source, edge.target
    return edge.target, edge.source  # used: input → run; built_by: run → model version


def layers(graph: LineageGraph) -> dict[Node, int]:
    """Each node's column: the longest flow path reaching it (cycles are cut). Iterative, so a
    graph of thousands of nodes in a long chain does not reach Python's recursion limit."""
    incoming: dict[Node, list[Node]] = {n.node: [] for n in graph.nodes}
    for edge in graph.edges:
        start, end = flow(edge)
        incoming.setdefault(end, []).append(start)
        incoming.setdefault(start, [])
    column: dict[Node, int] = {}
    for root in incoming:
        if root in column:
            continue
        # depth-first with an explicit stack: a node is settled once all its parents are
        on_path: set[Node] = {root}
        stack: list[tuple[Node, int]] = [(root, 0)]
        while stack:
            node, i = stack[-1]
            parents = incoming[node]
            while i < len(parents) and (parents[i] in column or parents[i] in on_path):
                i += 1  # settled, or on the current path (a cycle: cut)
            if i < len(parents):
                stack[-1] = (node, i + 1)
                on_path.add(parents[i])
                stack.append((parents[i], 0))
                continue
            stack.pop()
            on_path.discard(node)
            column[node] = max((column[p] + 1 for p in parents if p in column), default=0)
    return column


ROW_PX = 70  # vertical room per row: a marker and a two-line label below it
MAX_LABELS = 200  # larger graphs name their nodes on hover only (labels would be unreadable)
LABEL_CHARS = 18  # a label longer than this wraps (at most two lines, then "…")


def positions(graph: LineageGraph) -> dict[Node, tuple[float, float]]:
    """(column, row) per node; within a column, nodes are ordered by the mean row of what flows
    into them, which keeps most arrows short and uncrossed. Rows are one unit apart in the
    tallest column; a column with fewer nodes spreads them over the same height (at most three
    units apart), so neighbours and their labels never crowd in the middle of a short column."""
    columns = layers(graph)
    parents: dict[Node, list[Node]] = {}
    for edge in graph.edges:
        start, end = flow(edge)
        parents.setdefault(end, []).append(start)
    by_column: dict[int, list[Node]] = {}
    for node, col in sorted(columns.items(), key=lambda kv: (kv[1], kv[0].kind, kv[0].id)):
        by_column.setdefault(col, []).append(node)
    tallest = max((len(nodes) for nodes in by_column.values()), default=1)
    out: dict[Node, tuple[float, float]] = {}
    for col in sorted(by_column):
        nodes = by_column[col]

        def pull(node: Node) -> float:
            rows = [out[p][1] for p in parents.get(node, []) if p in out]
            return -sum(rows) / len(rows) if rows else 0.0

        nodes.sort(key=pull)
        gap = min(tallest / len(nodes), 3.0) if len(nodes) > 1 else 1.0
        for i, node in enumerate(nodes):
            out[node] = (float(col), ((len(nodes) - 1) / 2 - i) * gap)
    return out


def _padded(where: Mapping[Node, tuple[float, float]]) -> list[float]:
    """The y range with room above and below the outermost nodes (and their labels)."""
    ys = [y for _, y in where.values()] or [0.0]
    return [min(ys) - 0.9, max(ys) + 0.5]


def label(node: Node, names: Mapping[Node, str]) -> str:
    name = names.get(node, "")
    if node.kind == NodeKind.MODEL_VERSION:
        return f"{node.id} v{node.version}"
    return name or short(node.id, 10)


def wrapped(text: str, width: int = LABEL_CHARS) -> str:
    """A label for plotly: escaped (plotly reads a little HTML in text, and names are user text),
    broken into at most two lines of about ``width`` characters, at a separator if one is near."""
    lines: list[str] = []
    rest = text
    while rest and len(lines) < 2:
        if len(rest) <= width:
            lines.append(rest)
            rest = ""
            break
        cut = max((rest.rfind(ch, width // 2, width) for ch in " -_/.:"), default=-1)
        cut = cut + 1 if cut > 0 else width
        lines.append(rest[:cut])
        rest = rest[cut:]
    if rest:
        lines[-1] = lines[-1][: width - 1] + "…"
    return "<br>".join(html.escape(line, quote=False) for line in lines)


def figure(graph: LineageGraph, names: Mapping[Node, str]) -> go.Figure:
    """Nodes (clickable: ``customdata`` is the node's URL form), flow arrows, and each node's
    label under it on a white box drawn over the arrows, so crossing arrows never hide it."""
    where = positions(graph)
    fig = go.Figure()
    # Annotations are collected and set once: adding them one by one is quadratic in plotly.
    notes: list[dict[str, Any]] = []
    for edge in graph.edges:
        start, end = flow(edge)
        if start in where and end in where:
            (x0, y0), (x1, y1) = where[start], where[end]
            notes.append({
                "x": x1, "y": y1, "ax": x0, "ay": y0, "xref": "x", "yref": "y", "axref": "x", "ayref": "y",
                "showarrow": True, "arrowhead": 2, "arrowsize": 1.2, "arrowwidth": 1.2,
                "arrowcolor": "#9AA0A6", "standoff": 14, "startstandoff": 14, "text": "",
            })  # fmt: skip
    for kind, (symbol, color) in STYLE.items():
        nodes = [n for n in where if n.kind == kind]
        if not nodes:
            continue
        fig.add_trace(
            go.Scatter(
                x=[where[n][0] for n in nodes], y=[where[n][1] for n in nodes],
                mode="markers", name=kind.value.replace("_", " "),
                text=[html.escape(label(n, names), quote=False) for n in nodes],
                customdata=[format_node(n) for n in nodes],
                marker={"symbol": symbol, "size": [26 if n == graph.root else 18 for n in nodes],
                        "color": color, "line": {"width": [3 if n == graph.root else 1 for n in nodes], "color": "#222"}},
                hovertemplate="%{text}<br>%{customdata}<extra></extra>",
            )
        )  # fmt: skip
    for node, (x, y) in where.items() if len(where) <= MAX_LABELS else ():
        notes.append({
            "x": x, "y": y, "xref": "x", "yref": "y", "text": wrapped(label(node, names)), "showarrow": False,
            "yanchor": "top", "yshift": -15 if node == graph.root else -11, "font": {"size": 11, "color": "#444"},
            "bgcolor": "rgba(255, 255, 255, 0.9)", "borderpad": 1,
        })  # fmt: skip
    fig.update_layout(annotations=notes)

    ys = [y for _, y in where.values()] or [0.0]
    height = 120 + ROW_PX * (max(ys) - min(ys) + 1)
    fig.update_layout(
        height=int(min(max(height, 360), 2400)), margin={"l": 10, "r": 10, "t": 50, "b": 10},
        xaxis={"visible": False, "range": _x_range(where)}, yaxis={"visible": False, "range": _padded(where)},
        dragmode="pan", legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0},
    )  # fmt: skip
    return fig


def _x_range(where: Mapping[Node, tuple[float, float]]) -> list[float]:
    """Room left and right of the outer columns for their labels."""
    xs = [x for x, _ in where.values()] or [0.0]
    return [min(xs) - 0.5, max(xs) + 0.5]
