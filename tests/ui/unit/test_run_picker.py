"""The run picker's labels and counts (pure; the search itself: tests/query/integration/
test_find_runs.py, the widget in Chromium: tests/ui/e2e/test_run_pickers.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from query.run_search import RunMatch, RunMatches
from ui.run_picker import describe, summary

RUN = RunMatch("01a2331a-3f6f", "xgb-lr0.1-d6", "risk", "churn", "finished",
               datetime(2026, 12, 1, 19, 35, tzinfo=UTC), "name")  # fmt: skip


def test_a_label_names_the_run_where_and_when_and_why_it_matched() -> None:
    assert describe(RUN) == "xgb-lr0.1-d6 · risk/churn · 2026-12-01 · 01a2331a"
    by_tag = RunMatch(**{**RUN.__dict__, "matched": "tag stage=production", "name": ""})
    assert (
        describe(by_tag) == "01a2331a · risk/churn · 2026-12-01 · 01a2331a · tag stage=production"
    )


def test_the_summary_says_how_many_match_and_how_many_are_listed() -> None:
    assert summary(RunMatches((RUN,), 1), "xgb") == "1 matching run."
    assert summary(RunMatches((RUN,) * 20, 137), "x") == (
        "137 matching runs; the best 20 are listed, type more to narrow."
    )
    assert summary(RunMatches((), 0), "nothing") == "No run visible to you matches."
    assert summary(RunMatches((RUN,) * 20, 2100), " ") == (
        "The 20 newest of 2100 runs; type to search all of them."
    )
