"""Lineage: datasets, runs, artifacts and model versions around a node; click a node to move."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from cairn_contract.errors import CairnError
from query.lineage import Node, NodeKind
from reports.format import short
from ui import context, data, lineage_view, links

caller = context.caller()
st.title("Lineage")

default_node = ""
models = data.models(caller)
if models and models[0].production_version:
    default_node = f"model_version:{models[0].model_id}:{models[0].production_version}"
node_text = st.query_params.get("node", default_node)
if not node_text:
    st.info("Open lineage from a run or a model version, or pass ?node=run:<run id>.")
    st.stop()
try:
    root = lineage_view.parse_node(node_text)
except CairnError as exc:
    st.error(exc.message)
    st.stop()

direction_col, depth_col = st.columns([3, 1])
direction = direction_col.segmented_control(
    "Direction", ["upstream", "downstream", "both"],
    default=st.query_params.get("dir") if st.query_params.get("dir") in ("upstream", "downstream", "both")
    else ("upstream" if node_text.startswith("model_version:") else "both"),
    key="lineage.direction",
) or "both"  # fmt: skip
depth = depth_col.slider("Depth", 1, 6, int(st.query_params.get("depth", 3)), key="lineage.depth")
st.query_params.update({"node": node_text, "dir": direction, "depth": str(depth)})

try:
    graph = data.lineage_graph(caller, root, direction, depth)  # type: ignore[arg-type]
except CairnError as exc:
    st.error(exc.message)
    st.stop()
names = {n.node: n.name for n in graph.nodes}
runs = data.run_summaries(caller, [n.node.id for n in graph.nodes if n.node.kind == NodeKind.RUN])
names |= {Node(NodeKind.RUN, str(r.run_id)): str(r.name) for r in runs.itertuples()}

st.caption(
    f"Around **{lineage_view.label(root, names)}** ({root.kind.replace('_', ' ')}): "
    f"{len(graph.nodes)} nodes, {len(graph.edges)} edges. Click a node to centre on it."
    + (" The walk stopped early: the graph is larger." if graph.truncated else "")
)
clicked = st.plotly_chart(
    lineage_view.figure(graph, names),
    on_select="rerun",
    selection_mode="points",
    key="lineage.graph",
)
points = clicked.selection.points if clicked else []
if points and points[0].get("customdata") and points[0]["customdata"] != node_text:
    st.query_params["node"] = str(points[0]["customdata"])
    st.rerun()

rows = []
for item in graph.nodes:
    node = item.node
    rows.append(
        {"kind": node.kind, "name": lineage_view.label(node, names), "id": short(node.id, 16),
         "hops": item.depth, "node": lineage_view.format_node(node)}
    )  # fmt: skip
st.dataframe(pd.DataFrame(rows), hide_index=True)

node_texts = [str(r["node"]) for r in rows]
focus = st.selectbox(
    "Go to", node_texts, format_func=lambda t: f"{t.split(':')[0]} · {lineage_view.label(lineage_view.parse_node(t), names)}",
    index=None, placeholder="Centre on another node, or open it", key="lineage.focus",
)  # fmt: skip
if focus:
    target = lineage_view.parse_node(focus)
    centre, open_col = st.columns(2)
    if centre.button("Centre the graph here", key="lineage.centre"):
        st.query_params["node"] = focus
        st.rerun()
    if target.kind == NodeKind.RUN:
        open_col.page_link(
            links.PAGES["run"], label="Open run", query_params=links.run_params(target.id)
        )
    elif target.kind == NodeKind.MODEL_VERSION:
        open_col.page_link(links.PAGES["models"], label="Open model version",
                           query_params={"model": target.id, "version": str(target.version)})  # fmt: skip
