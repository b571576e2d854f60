"""Live refresh of pages that show running runs: the one mechanism every page uses.

The contract
------------
- **Interval.** A page asks :func:`interval` with the statuses of the runs it shows: while any of
  them is ``running`` the answer is :data:`INTERVAL_S` (1 s), otherwise ``None``.
- **What is refreshed.** Only the body of a :func:`fragment` (a Streamlit fragment with
  ``run_every`` set to that interval): its data is re-read and redrawn in place, the rest of the
  page (pickers, widgets, other sections) is not rerun. Widgets the fragment depends on live
  outside it; the fragment reads their values (session state or arguments) on each tick.
- **Fresh data.** Inside a live fragment, read through ``ui.data``'s ``live_*`` functions: they are
  cached for at most :data:`FRESH_TTL_S` (a quarter of the interval, so viewers of one running run
  share a query, yet a tick never draws data older than the previous tick), never through the
  15-60 s caches of ``ui.data``. Decide the interval from an uncached status read
  (``data.run_statuses``), never from a cached record that may still say ``running``.
- **When it stops.** Nothing refreshes when nothing runs: a finished page's fragment has no
  timer. When the last running run ends while the page is open, the fragment calls
  :func:`stop_when_finished`, which forgets the stale cached reads it is given and reruns the
  whole page once (``st.rerun(scope="app")``); the page then sees no running run and draws its
  fragments without a timer.
- **Latency.** A logged point reaches the screen within the SDK's send interval (50 ms) + the
  processors' flush interval (0.5 s) + one tick (1 s) + at most :data:`FRESH_TTL_S` (0.25 s):
  1.8 s at worst before the tick draws it (measured: see the Run page's live e2e test).

A run whose process died without ending it stays ``running`` (the store has no liveness status);
its page keeps refreshing once a second while open, which costs one small query per tick.

Usage (a page showing runs ``ids``)::

    statuses = data.run_statuses(caller, ids)                 # uncached
    every = live.interval(statuses.values())

    def body() -> None:
        now = data.run_statuses(caller, ids) if every else statuses
        live.stop_when_finished(every, now.values(), forget=[...])
        ...draw from data.live_*(...) when every else the cached reads...

    live.fragment(body, every)()
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

import streamlit as st

RUNNING: Final = "running"  # the status of a run that has not ended (domain.rule_book)
INTERVAL_S: Final = 1.0  # how often a live fragment redraws while a shown run is running
FRESH_TTL_S: Final = INTERVAL_S / 4  # the oldest cached read a live fragment may draw


def is_running(statuses: Iterable[str]) -> bool:
    return any(status == RUNNING for status in statuses)


def interval(statuses: Iterable[str]) -> float | None:
    """The refresh interval of a page showing runs with these statuses: ``None`` when none runs."""
    return INTERVAL_S if is_running(statuses) else None


def fragment(body: Callable[[], None], every: float | None) -> Callable[[], None]:
    """``body`` as a fragment redrawn every ``every`` seconds (never when ``every`` is None).

    Call the result once where the fragment belongs on the page. ``body`` must not write to the
    page outside its own container (Streamlit forbids it during a fragment rerun) and must not
    change query parameters (that would rerun the whole page every tick).
    """
    return st.fragment(body, run_every=every)


def stop_when_finished(
    every: float | None,
    statuses: Iterable[str],
    forget: Iterable[Callable[[], None]] = (),
) -> None:
    """Inside a live fragment: once nothing shown runs any more, rerun the whole page once.

    ``every`` is the interval the fragment was created with (only a live fragment stops);
    ``statuses`` are fresh. Each of ``forget`` is called first (e.g.
    ``lambda: data.comparison.clear(caller, ids)``) so the full rerun does not draw a cached
    record from before the end.
    """
    if every is None or is_running(statuses):
        return
    for clear in forget:
        clear()
    st.rerun(scope="app")
