"""ui.live: when a page refreshes, and how it stops once the last running run has ended."""

from __future__ import annotations

import pytest
import streamlit as st

from ui import live


def test_a_page_refreshes_only_while_a_shown_run_is_running() -> None:
    assert live.interval(["finished", "running"]) == live.INTERVAL_S
    assert live.interval(["finished", "failed", "killed"]) is None
    assert live.interval([]) is None


def test_a_live_read_is_never_older_than_one_tick() -> None:
    assert 0 < live.FRESH_TTL_S < live.INTERVAL_S
    # The budget of the contract: SDK send (0.05) + processors' flush (0.5) + tick + cache age.
    assert 0.05 + 0.5 + live.INTERVAL_S + live.FRESH_TTL_S < 2.0


class Rerun(Exception):
    pass


@pytest.fixture
def reruns(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []

    def rerun(*, scope: str = "app") -> None:
        seen.append(scope)
        raise Rerun

    monkeypatch.setattr(st, "rerun", rerun)
    return seen


def test_the_last_run_ending_forgets_stale_reads_and_reruns_the_page_once(
    reruns: list[str],
) -> None:
    forgotten: list[str] = []
    with pytest.raises(Rerun):
        live.stop_when_finished(1.0, ["finished"], forget=[lambda: forgotten.append("cmp")])
    assert reruns == ["app"]
    assert forgotten == ["cmp"]


def test_a_running_run_or_a_static_fragment_does_not_rerun(reruns: list[str]) -> None:
    live.stop_when_finished(1.0, ["running", "finished"])
    live.stop_when_finished(None, ["finished"])
    assert reruns == []
