"""Pure helpers behind issue #18's smaller portal fixes (the pages: tests/ui/e2e/test_page_fixes.py)."""

from __future__ import annotations

from datetime import UTC, datetime

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
