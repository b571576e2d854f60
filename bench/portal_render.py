"""``make bench-portal``: how fast every portal page renders at 10,000 runs, in Chromium.

The store is the query benchmark's synthetic one (:mod:`bench.query_scale`: 10,000 runs in 4
teams and 20 projects, params, tags, provenance, models with lineage, run comments; every run
logs 5 metrics, 100 of them 100,000 steps each) plus what the pages need besides
(:mod:`bench.portal_store`: 20 sweeps of 100 trials, members, project notes, comments and
decisions, handovers, automation rules and deliveries, inbox items), loaded with
``INSERT ... SELECT`` from ``numbers()`` into a ClickHouse endpoint started for the run. Then the
real portal (``streamlit run ui/app.py``) serves it and headless Chromium (Debian's, driven by
Playwright) signs in as ``user-00``, a member of all four teams, and opens each page:

- **first render**: a new portal process per page (its data caches empty); sign in (landing on
  another page), then open the page's address in the same session, the way a link or the
  sidebar does; timed from the navigation until the page is complete: the script run has
  finished, no element is still loading, the page's content is on screen, and no exception;
- **warm**: the same address opened again ``CAIRN_BENCH_RELOADS`` times in that session (what a
  reload or a return to the page does while the caches live); p50 and p95 of those.

Goals (issue 18): first render < 2 s and warm p95 < 1 s for every page; the Sweep page < 1 s
warm. Environment knobs for a quick run: ``CAIRN_BENCH_RUNS`` (10,000), ``CAIRN_BENCH_STEPS``
(100,000 steps of each long run), ``CAIRN_BENCH_RELOADS`` (10), ``CAIRN_BENCH_REPEAT`` (fresh
portal processes per page, 2), ``CAIRN_BENCH_PAGES`` (comma-separated page names, default all).
"""

from __future__ import annotations

import argparse
import math
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Page

from bench.portal_profile import hook_directory, summarize
from bench.portal_store import USER, has_extras, load_extras, sweep_ids
from bench.query_scale import Shape, load, loaded, local_endpoint
from localstack.health import http_ok
from localstack.processes import free_port, start_process, stop_process, wait_until
from query.client import connect
from query.migrations import apply_migrations
from tests.ui.browser import APP, chromium, exceptions, new_page, wait_idle
from ui.users import LocalUser, hash_password, write_users

REPO = Path(__file__).resolve().parents[1]
DATABASE = "cairn"
TEAMS = frozenset({"team-0", "team-1", "team-2", "team-3"})
FIRST_GOAL_S = 2.0
WARM_GOAL_S = 1.0
COMPARED = 50
GOAL = f"first < {FIRST_GOAL_S:.0f} s, warm p95 < {WARM_GOAL_S:.0f} s"


@dataclass(frozen=True)
class PageCase:
    """One page: the address it is opened at and what shows it is complete."""

    name: str
    path: str
    ready: Callable[[Page], None]
    landing: str = "inbox"  # where signing in lands before the page is opened


def _title(text: str) -> Callable[[Page], None]:
    def ready(page: Page) -> None:
        page.locator("h1").filter(has_text=text).first.wait_for()

    return ready


def _with(title: str, selector: str) -> Callable[[Page], None]:
    def ready(page: Page) -> None:
        _title(title)(page)
        page.locator(selector).first.wait_for()

    return ready


CHART = '[data-testid="stPlotlyChart"] .main-svg'
TABLE = '[data-testid="stDataFrame"]'


def cases(shape: Shape) -> list[PageCase]:
    """Every page of the portal at the store's shape, with the data that makes it heavy."""
    long_runs = [f"run-{n:05d}" for n in range(0, shape.runs, shape.big_every)]
    sweep = sweep_ids(shape)[0]
    lineage_run = f"run-{shape.runs // 2 + 2:05d}"  # deep in its project's chain of runs
    return [
        PageCase("Projects", "", _title("Projects"), landing="inbox"),
        PageCase("Runs", "runs", _with("Runs", TABLE)),
        PageCase("Run (long, Charts)", f"run?id={long_runs[-1]}&tab=Charts", _with("exp-", CHART)),
        PageCase(
            f"Compare {min(COMPARED, len(long_runs))}",
            "compare?runs=" + ",".join(long_runs[:COMPARED]),
            _with("Compare", CHART),
        ),
        PageCase("Sweeps (list)", "sweep", _with("Sweeps", TABLE)),
        PageCase(
            "Sweep (100 trials)", f"sweep?sweep={sweep}", _title(f"exp-{sweep[4:].lstrip('0')}")
        ),
        PageCase(
            "Lineage", f"lineage?node=run:{lineage_run}&dir=both&depth=3", _with("Lineage", CHART)
        ),
        PageCase("Models", "models?model=model-proj-02", _with("Models", TABLE)),
        PageCase("Discussion", "discussion?project=team-0/proj-00", _title("Discussion")),
        PageCase("Handover", "handover?team=team-0", _with("Handover", TABLE)),
        PageCase("Sharing", "sharing", _title("Sharing")),
        PageCase("Automations", "automations?team=team-0", _with("Automations", TABLE)),
        PageCase("Inbox", "inbox", _with("Inbox", TABLE), landing=""),  # "": Projects
    ]


@contextmanager
def portal(
    clickhouse_url: str, directory: Path, profile: Path | None = None
) -> Iterator[tuple[str, str]]:
    """The portal on a free port, with ``user-00`` in every team; yields (URL, password).

    With ``profile``, :mod:`bench.portal_profile` records its queries and page runs there."""
    password = secrets.token_urlsafe(12)
    users = directory / "portal-users.json"
    write_users(users, [LocalUser(USER, "Bench User", hash_password(password), TEAMS)])
    port = free_port()
    env = {
        **os.environ,
        "CAIRN_CLICKHOUSE_URL": f"{clickhouse_url}/{DATABASE}",
        "CAIRN_PORTAL_USERS": str(users),
        "CAIRN_PORTAL_AUTH": "local",
        "CAIRN_PORTAL_URL": f"http://127.0.0.1:{port}",
    }
    if profile is not None:
        hook = hook_directory(directory)
        env["PYTHONPATH"] = os.pathsep.join([str(hook), str(REPO), env.get("PYTHONPATH", "")])
        env["CAIRN_BENCH_PROFILE"] = str(profile)
    argv = [
        sys.executable, "-m", "streamlit", "run", str(REPO / "ui" / "app.py"),
        "--server.headless=true", "--server.address=127.0.0.1", f"--server.port={port}",
        "--browser.gatherUsageStats=false", "--server.fileWatcherType=none",
    ]  # fmt: skip
    log_path = directory / "portal.log"
    process = start_process(argv, log_path=log_path, env=env, cwd=REPO)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: http_ok(f"{url}/_stcore/health"),
            what="portal",
            timeout=60,
            process=process,
            log_path=log_path,
        )
        yield url, password
    finally:
        stop_process(process)


# Set a flag once the app's script run starts: a navigation's run is then known to have begun
# (a fast run may start and finish between two polls of the state attribute).
_WATCH = f"""() => {{
    window.__cairnRan = false;
    const app = document.querySelector('{APP}');
    if (window.__cairnObserver) window.__cairnObserver.disconnect();
    window.__cairnObserver = new MutationObserver(() => {{
        if (app.getAttribute('data-test-script-state') === 'running') window.__cairnRan = true;
    }});
    window.__cairnObserver.observe(app, {{attributes: true}});
}}"""
# Streamlit follows the browser's history: a pushed address and a popstate event open that
# page with its query parameters in the same session, as its own links do.
_NAVIGATE = """(path) => {
    window.history.pushState({}, '', '/' + path);
    window.dispatchEvent(new PopStateEvent('popstate', {state: {}}));
}"""


def open_page(page: Page, case: PageCase) -> float:
    """Open ``case``'s address in the signed-in session; seconds until the page is complete."""
    page.evaluate(_WATCH)
    started = time.monotonic()
    page.evaluate(_NAVIGATE, case.path)
    page.wait_for_function("window.__cairnRan === true", timeout=120_000)
    case.ready(page)
    seconds = time.monotonic() - started + wait_idle(page, timeout=120, settle=0.5)
    shown = exceptions(page)
    if shown:
        raise RuntimeError(f"{case.name}: the page shows an exception: {shown[0][:500]}")
    return seconds


def sign_in(page: Page, url: str, password: str, path: str) -> None:
    page.goto(f"{url}/{path}")
    page.get_by_role("textbox", name="User").fill(USER)
    page.get_by_role("textbox", name="Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_text("Sign out").wait_for()
    wait_idle(page, timeout=120)


@dataclass
class Figures:
    first: list[float] = field(default_factory=list)
    warm: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def measure(
    clickhouse_url: str,
    directory: Path,
    chosen: Sequence[PageCase],
    repeat: int,
    reloads: int,
    log: Callable[[str], None],
    profile: Path | None = None,
) -> dict[str, Figures]:
    """First render (a new portal process per page and repetition) and warm renders."""
    figures = {case.name: Figures() for case in chosen}
    with chromium() as browser:
        for round_ in range(repeat):
            for case in chosen:
                with portal(clickhouse_url, directory, profile) as (url, password):
                    page = new_page(browser, 1600, 1100)
                    page.set_default_timeout(120_000)
                    try:
                        sign_in(page, url, password, case.landing)
                        first = open_page(page, case)
                        warm = [open_page(page, case) for _ in range(reloads)]
                    except Exception as exc:  # one page failing must not hide the others' figures
                        shot = directory / f"failed-{case.name.split(' ')[0].lower()}.png"
                        page.screenshot(path=str(shot), full_page=True)
                        figures[case.name].errors.append(f"{type(exc).__name__}: {exc}"[:300])
                        log(f"  {case.name:<22} round {round_ + 1}: FAILED ({shot}): {exc}")
                        continue
                    finally:
                        page.context.close()
                figures[case.name].first.append(first)
                figures[case.name].warm.extend(warm)
                log(
                    f"  {case.name:<22} round {round_ + 1}: first {first:5.2f} s, warm "
                    + " ".join(f"{w:.2f}" for w in warm)
                    + f"  (load {os.getloadavg()[0]:.1f})"
                )
    return figures


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (p95 of 10 values is the largest but none)."""
    ordered = sorted(values)
    rank = math.ceil(fraction * len(ordered) - 1e-9)
    return ordered[min(max(rank, 1), len(ordered)) - 1]


@dataclass(frozen=True)
class Row:
    page: str
    first_s: float  # the worst first render
    warm_p50_s: float
    warm_p95_s: float
    goal: str
    met: bool


def rows(figures: dict[str, Figures]) -> list[Row]:
    table = []
    for name, found in figures.items():
        if not found.first:  # every round failed: no figure, and the goal is not met
            table.append(Row(name, math.nan, math.nan, math.nan, GOAL, False))
            continue
        first = max(found.first)
        p50 = statistics.median(found.warm) if found.warm else math.nan
        p95 = percentile(found.warm, 0.95) if found.warm else math.nan
        table.append(Row(name, first, p50, p95, GOAL, first < FIRST_GOAL_S and p95 < WARM_GOAL_S))
    return table


def table_text(table: Sequence[Row]) -> str:
    lines = [
        f"{'page':<22} {'first s':>8} {'warm p50':>9} {'warm p95':>9}   {'goal':<30} met?",
    ]
    for row in table:
        lines.append(
            f"{row.page:<22} {row.first_s:8.2f} {row.warm_p50_s:9.2f} {row.warm_p95_s:9.2f}"
            f"   {row.goal:<30} {'yes' if row.met else 'NO'}"
        )
    return "\n".join(lines)


def shape_from_env(env: dict[str, str]) -> Shape:
    runs = int(env.get("CAIRN_BENCH_RUNS", "10000"))
    steps = int(env.get("CAIRN_BENCH_STEPS", "100000"))
    return Shape(runs=runs, big_every=100, big_steps=steps)


@contextmanager
def _endpoint(url: str | None, directory: Path) -> Iterator[str]:
    if url:
        yield url.rstrip("/")
        return
    with local_endpoint(directory) as started:
        yield started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.portal_render", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--url", help="an admin ClickHouse URL to load into (default: start an endpoint)"
    )
    parser.add_argument(
        "--dir", type=Path, help="keep the endpoint's data here (reused when loaded)"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="record each page run's ClickHouse round trips and cProfile (bench.portal_profile)",
    )
    args = parser.parse_args(argv)
    env = dict(os.environ)
    shape = shape_from_env(env)
    repeat = int(env.get("CAIRN_BENCH_REPEAT", "2"))
    reloads = int(env.get("CAIRN_BENCH_RELOADS", "10"))
    wanted = {w.strip() for w in env.get("CAIRN_BENCH_PAGES", "").split(",") if w.strip()}
    chosen = [c for c in cases(shape) if not wanted or c.name.split(" ")[0] in wanted]
    with tempfile.TemporaryDirectory(prefix="cairn-portal-bench-") as tmp:
        directory = args.dir or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        with _endpoint(args.url, directory) as clickhouse_url:
            client = connect(clickhouse_url, database="default", timeout_s=3600)
            if not loaded(client, DATABASE, shape):
                client.command(f"DROP DATABASE IF EXISTS {DATABASE} SYNC")
                apply_migrations(client, DATABASE)
                print(
                    f"loading {shape.runs:,} runs, {shape.points:,} metric points ...", flush=True
                )
                load(client, DATABASE, shape, lambda line: print(line, flush=True))
            if not has_extras(client, DATABASE):
                load_extras(client, DATABASE, shape, lambda line: print(line, flush=True))
            started_load = os.getloadavg()
            print(
                f"store: {shape.runs:,} runs, {shape.big_runs} of {shape.big_steps:,} steps; "
                f"{repeat} fresh portal(s) per page, {reloads} warm reloads each",
                flush=True,
            )
            profile = directory / "profile.jsonl" if args.profile else None
            if profile is not None:
                profile.unlink(missing_ok=True)
            figures = measure(
                clickhouse_url,
                directory,
                chosen,
                repeat,
                reloads,
                lambda s: print(s, flush=True),
                profile,
            )
            if profile is not None:
                print("\nwhere the time goes (first render, then warm):")
                print(summarize(profile))
    ended_load = os.getloadavg()
    print(f"\nportal pages (seconds to a complete page; first = worst of {repeat} fresh portals)")
    print(table_text(rows(figures)))
    print(
        f"load average (1/5/15 min) at start {started_load[0]:.2f}/{started_load[1]:.2f}/"
        f"{started_load[2]:.2f}, at end {ended_load[0]:.2f}/{ended_load[1]:.2f}/"
        f"{ended_load[2]:.2f}, on {os.cpu_count()} cores"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
