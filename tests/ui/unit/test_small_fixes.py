"""Pure helpers behind issue #18's smaller portal fixes (the pages: tests/ui/e2e/test_page_fixes.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise

from query.sharing import Transfer
from reports.markdown import to_text
from ui.handover_view import handover_log
from ui.run_view import chart_link_params


def test_an_excerpt_keeps_the_words_and_drops_the_markup_while_html_stays_text() -> None:
    assert to_text("p99 with v2: **12 ms** (_v1_: `9 ms`)") == "p99 with v2: 12 ms (v1: 9 ms)"
    hostile = to_text('<script>alert(1)</script> [x](javascript:alert(1)) <img src=x onerror="y">')
    assert "<script>alert(1)</script>" in hostile  # shown as text, never a tag
    assert "x" in hostile


def test_the_handover_log_names_runs_and_keeps_their_id_beside() -> None:
    at = datetime(2026, 12, 5, tzinfo=UTC)
    moved = [
        Transfer("run", "01a1f54e-5060-7", "risk", "churn", "bob", "alice", "left", "alice", at),
        Transfer("run", "01ffffff-0000-7", "risk", "churn", "bob", "alice", "left", "alice", at),
        Transfer("model", "churn-classifier", "risk", "churn", "bob", "alice", "", "alice", at),
    ]
    log = handover_log(moved, {"01a1f54e-5060-7": "baseline-logreg"}, str.title)
    assert list(log["what"]) == [
        "run baseline-logreg",
        "run 01ffffff-000",
        "model churn-classifier",
    ]
    assert list(log["id"]) == ["01a1f54e-506", "01ffffff-000", ""]
    assert list(log["from"]) == ["Bob"] * 3


def test_a_chart_link_is_the_view_last_shown_else_the_pages_first_view() -> None:
    shown = {"r1": {"keys": "train/loss", "x": "time", "log": "1", "smooth": "0.6"}}
    assert chart_link_params("r1", shown, ["val/auc", "train/loss"]) == {
        "id": "r1", "tab": "Charts", "keys": "train/loss", "x": "time", "log": "1", "smooth": "0.6",
    }  # fmt: skip
    first = chart_link_params("r2", shown, ["train/loss", "val/auc"])
    assert first == {"id": "r2", "tab": "Charts", "keys": "val/auc,train/loss"}


def test_the_trials_table_shows_numbers_times_and_gaps_as_people_read_them() -> None:
    import pandas as pd

    from ui.sweep_view import trials_table

    started = pd.Timestamp("2026-12-01 17:55:12.751692", tz="UTC")
    trials = pd.DataFrame({
        "number": pd.array([0, 1], dtype="Int64"), "run_id": ["a", "b"], "name": ["t0", "t1"],
        "state": ["complete", "running"], "status": ["finished", "running"],
        "params.lr": [0.03, None], "metrics.val/auc": [0.888379421, float("nan")],
        "pruned_step": pd.array([None, None], dtype="Int64"),
        "started": [started, started], "ended": [started + pd.Timedelta(minutes=18), pd.NaT],
        "duration_s": [1080.0, float("nan")],
    })  # fmt: skip
    shown = trials_table(trials)
    html = shown.to_html()
    for raw in ("None", "nan", "NaT", "0.030000", "17:55:12.751692", "1080"):
        assert raw not in html, raw
    for readable in ("0.03", "0.8884", "2026-12-01 17:55:12", "18.0 min"):
        assert readable in html, readable
    assert shown.data["number"].dtype == "Int64"  # a column without gaps still sorts as numbers


def test_lineage_rows_spread_short_columns_and_labels_wrap_escaped() -> None:
    from query.lineage import Edge, GraphNode, LineageGraph, Node, NodeKind
    from ui.lineage_view import positions, wrapped

    data = Node(NodeKind.DATASET, "sha256:d")
    runs = [Node(NodeKind.RUN, f"r{i}") for i in range(6)]
    model = Node(NodeKind.MODEL_VERSION, "m", 1)
    at = datetime(2026, 12, 1, tzinfo=UTC)
    edges = [Edge(run, "used", data, "risk", "churn", "alice", at) for run in runs]
    edges.append(Edge(model, "built_by", runs[0], "risk", "churn", "alice", at))
    nodes = [GraphNode(n, str(n.id), 1) for n in (data, *runs, model)]
    where = positions(LineageGraph(model, "both", 2, tuple(nodes), tuple(edges), False))
    run_rows = sorted(where[r][1] for r in runs)
    assert [b - a for a, b in pairwise(run_rows)] == [1.0] * 5
    assert where[data][0] < where[runs[0]][0] < where[model][0]
    assert wrapped("xgb-lr0.03-d10") == "xgb-lr0.03-d10"
    assert wrapped("a-very-long-run-name-of-the-sweep-trial-17") == (
        "a-very-long-run-<br>name-of-the-sweep…"
    )
    assert wrapped("<b>bold</b>") == "&lt;b&gt;bold&lt;/b&gt;"


def test_lineage_layers_of_a_chain_of_thousands_of_nodes_and_a_cycle() -> None:
    from query.lineage import Edge, GraphNode, LineageGraph, Node, NodeKind
    from ui.lineage_view import MAX_LABELS, figure, layers

    at = datetime(2026, 12, 1, tzinfo=UTC)
    chain = [Node(NodeKind.DATASET if i % 2 == 0 else NodeKind.RUN, f"n{i}") for i in range(3001)]
    # dataset -> run (run used dataset), run -> dataset (run produced dataset), alternately
    edges = [
        Edge(b, "used", a, "t", "p", "u", at) if a.kind == NodeKind.DATASET
        else Edge(a, "produced", b, "t", "p", "u", at)
        for a, b in pairwise(chain)
    ]  # fmt: skip
    nodes = tuple(GraphNode(n, n.id, 0) for n in chain)
    graph = LineageGraph(chain[0], "downstream", 3000, nodes, tuple(edges), False)
    found = layers(graph)  # the recursive version hit Python's recursion limit here
    assert (found[chain[0]], found[chain[-1]]) == (0, 3000)
    cycle = Edge(chain[1], "used", chain[2], "t", "p", "u", at)  # n2 -> n1 -> n2: cut, not looped
    looped = LineageGraph(chain[0], "downstream", 3000, nodes, (*edges, cycle), False)
    assert len(layers(looped)) == len(chain)
    small = LineageGraph(chain[0], "downstream", 9, tuple(GraphNode(n, n.id, 0) for n in chain[:10]),
                         tuple(edges[:9]), False)  # fmt: skip
    labelled = [a for a in figure(small, {}).layout.annotations if a.text]
    assert len(labelled) == 10
    big = [a for a in figure(graph, {}).layout.annotations if a.text]
    assert len(chain) > MAX_LABELS
    assert big == []
