"""Where a portal page's time goes: ClickHouse round trips against Python, per script run.

``python -m bench.portal_render --profile`` starts the portal with this module installed (a
``sitecustomize`` on ``PYTHONPATH`` that calls :func:`install`; nothing in ``ui/`` knows of it).
It records, as JSON lines in ``$CAIRN_BENCH_PROFILE``:

- every HTTP request to ClickHouse: start, end, the ``query/`` function that made it (the
  nearest frame in ``query/``) and the page function above it (the nearest frame in ``ui/``);
- every script run (``ScriptRunner._run_script``: sign-in check, sidebar, the page) and every
  page's part of it (``StreamlitPage.run``) with its cProfile's 25 most expensive functions by
  cumulative time.

:func:`summarize` turns a log into a per-page table: script seconds, seconds waiting for
ClickHouse (wall, overlapping requests counted once), the rest (Python: building frames and
figures, Streamlit's serialisation), round trips and the slowest query functions.
"""

from __future__ import annotations

import cProfile
import io
import json
import os
import pstats
import threading
import time
import traceback
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

_LOCK = threading.Lock()


def _write(record: dict[str, Any]) -> None:
    path = os.environ.get("CAIRN_BENCH_PROFILE")
    if not path:
        return
    line = json.dumps(record)
    with _LOCK, open(path, "a", encoding="utf-8") as out:
        out.write(line + "\n")


def _origin() -> tuple[str, str]:
    """The query function and the ui function (file:function) on the current stack."""
    query_fn = ui_fn = ""
    for frame in reversed(traceback.extract_stack()[:-2]):
        where = frame.filename.replace("\\", "/")
        label = f"{Path(where).stem}.{frame.name}:{frame.lineno}"
        if not query_fn and "/query/" in where and "/_execute" not in where:
            query_fn = label
        if not ui_fn and "/ui/" in where:
            ui_fn = label
        if query_fn and ui_fn:
            break
    return query_fn, ui_fn


def install() -> None:
    """Patch the ClickHouse HTTP client and Streamlit's page runner to record timings."""
    from clickhouse_connect.driver._backend.http_sync import HttpSyncBackend
    from streamlit.navigation.page import StreamlitPage

    raw_request = HttpSyncBackend.request

    def timed_request(self: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.time()
        try:
            return raw_request(self, *args, **kwargs)
        finally:
            query_fn, ui_fn = _origin()
            _write(
                {
                    "kind": "query",
                    "start": started,
                    "end": time.time(),
                    "query": query_fn,
                    "ui": ui_fn,
                    "thread": threading.get_ident(),
                }
            )

    HttpSyncBackend.request = timed_request  # type: ignore[method-assign]

    page_run = StreamlitPage.run

    def timed_run(self: StreamlitPage) -> None:
        profile = cProfile.Profile()
        started = time.time()
        profile.enable()
        try:
            page_run(self)
        finally:
            profile.disable()
            text = io.StringIO()
            pstats.Stats(profile, stream=text).sort_stats("cumulative").print_stats(25)
            _write(
                {
                    "kind": "page",
                    "page": self.title,
                    "start": started,
                    "end": time.time(),
                    "thread": threading.get_ident(),
                    "profile": text.getvalue()[-6000:],
                }
            )

    StreamlitPage.run = timed_run  # type: ignore[method-assign]

    from streamlit.runtime.scriptrunner.script_runner import ScriptRunner

    run_script = ScriptRunner._run_script

    def timed_script(self: Any, rerun_data: Any) -> None:
        started = time.time()
        try:
            run_script(self, rerun_data)
        finally:
            _write({"kind": "script", "start": started, "end": time.time()})

    ScriptRunner._run_script = timed_script  # type: ignore[method-assign]


SITECUSTOMIZE = "import bench.portal_profile as _p\n_p.install()\n"


def hook_directory(directory: Path) -> Path:
    """A directory holding the ``sitecustomize`` that installs the hooks (for ``PYTHONPATH``)."""
    hook = directory / "profile-hook"
    hook.mkdir(parents=True, exist_ok=True)
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    return hook


def _union_seconds(spans: Iterable[tuple[float, float]]) -> float:
    total, end_reached = 0.0, float("-inf")
    for start, end in sorted(spans):
        if end <= end_reached:
            continue
        total += end - max(start, end_reached)
        end_reached = end
    return total


def summarize(log: Path, pages: int = 3) -> str:
    """Per page script run: seconds, ClickHouse wait, the rest, round trips, top query functions."""
    records = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line]
    runs = [r for r in records if r["kind"] == "page"]
    queries = [r for r in records if r["kind"] == "query"]
    scripts = [r for r in records if r["kind"] == "script"]
    lines = []
    by_page: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        by_page[run["page"]].append(run)
    for page, page_runs in by_page.items():
        for run in page_runs[:pages]:
            inside = [q for q in queries if q["start"] >= run["start"] and q["end"] <= run["end"]]
            seconds = run["end"] - run["start"]
            script = next(
                (s for s in scripts if s["start"] <= run["start"] and s["end"] >= run["end"]),
                run,
            )
            waiting = _union_seconds((q["start"], q["end"]) for q in inside)
            per_fn: dict[str, list[float]] = defaultdict(list)
            for q in inside:
                per_fn[q["query"] or q["ui"]].append(q["end"] - q["start"])
            slowest = sorted(per_fn.items(), key=lambda item: -sum(item[1]))[:5]
            lines.append(
                f"{page}: whole script {script['end'] - script['start']:.2f} s, page {seconds:.2f} s, ClickHouse {waiting:.2f} s in {len(inside)} "
                f"round trips, rest {seconds - waiting:.2f} s; "
                + "; ".join(f"{fn} {sum(t):.2f} s x{len(t)}" for fn, t in slowest)
            )
    return "\n".join(lines)
