"""``python -m bench.portal_render``: how fast the portal's heaviest pages render, in Chromium.

The store is the query benchmark's synthetic one (:mod:`bench.query_scale`), loaded with
``INSERT ... SELECT`` from ``numbers()`` into a ClickHouse endpoint started for the run: 10,000
runs in 4 teams, every run with params, tags and 5 metrics, and 50 long runs of 100,000 steps
per metric. Then the real portal (``streamlit run ui/app.py``) serves it and headless Chromium
(Debian's, driven by Playwright) signs in as a member of all four teams and opens:

- **Runs**, unfiltered, showing all 10,000 runs (the page's largest size);
- **Compare** of the 50 long runs: the run table and the metric overlay it opens with (50 lines
  of 100,000 steps each, downsampled in the store), and the last value of every metric.

A render is timed from the click that asks for the page (signing in with the page in the URL,
or a sidebar link, or a widget) until the page is complete: the script run has finished, no
element is still loading, and the expected content is on screen. Each portal process is new,
so its data caches start empty; see :func:`render_times` for the cases. The target: 2 s from
the click, with the data in the store (cold portal caches).
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from playwright.sync_api import Browser, Page

from bench.query_scale import Shape, load, loaded, local_endpoint
from localstack.health import http_ok
from localstack.processes import free_port, start_process, stop_process, wait_until
from query.client import connect
from query.migrations import apply_migrations
from tests.ui.browser import chromium, new_page, open_from_sidebar, wait_idle
from ui.users import LocalUser, hash_password, write_users

REPO = Path(__file__).resolve().parents[1]
DATABASE = "cairn"
TEAMS = frozenset({"team-0", "team-1", "team-2", "team-3"})
TARGET_S = 2.0


@contextmanager
def portal(clickhouse_url: str, directory: Path) -> Iterator[tuple[str, str]]:
    """The portal on a free port, with one user in every team; yields (URL, password)."""
    password = secrets.token_urlsafe(12)
    users = directory / "portal-users.json"
    write_users(users, [LocalUser("bench", "Bench User", hash_password(password), TEAMS)])
    port = free_port()
    env = {
        **os.environ,
        "CAIRN_CLICKHOUSE_URL": f"{clickhouse_url}/{DATABASE}",
        "CAIRN_PORTAL_USERS": str(users),
        "CAIRN_PORTAL_AUTH": "local",
        "CAIRN_PORTAL_URL": f"http://127.0.0.1:{port}",
    }
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


TOTAL = "10,000 of 10,000 runs"


def _complete(page: Page, started: float, ready: Callable[[Page], None]) -> float:
    """Seconds from ``started`` until ``ready(page)`` returned and the page then went quiet."""
    ready(page)
    called = time.monotonic()
    return called - started + wait_idle(page, timeout=120, settle=0.5)


def _runs_shown(page: Page) -> None:
    page.get_by_text(TOTAL, exact=True).wait_for()


def _compare_shown(page: Page) -> None:
    """The run table and the default metric overlay, drawn (its SVG layers exist)."""
    page.get_by_text("50 runs", exact=True).wait_for()
    page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for()
    page.locator('[data-testid="stPlotlyChart"] .scatterlayer .trace').nth(49).wait_for(
        state="attached"
    )


def render_times(url: str, password: str, compare_ids: list[str]) -> dict[str, float]:
    """Seconds to a complete page, per case, for one fresh portal process (empty data caches).

    - *runs, first visit*: signing in to the Runs page in a browser that never saw the portal
      (nothing cached: the portal's JavaScript is fetched and compiled too);
    - *runs cold*: the sidebar link to Runs, in a browser that has the portal's static files
      cached from visiting another page first (as for anyone who used the portal before);
    - *runs warm*: the same again, within the caches' lifetime;
    - *compare cold*: selecting the 50 runs in the Runs table (a filter and the select-all box)
      and clicking "Compare 50 runs", the way people open a comparison;
    - *compare warm*: switching the chart to log scale (a rerun drawing the overlay again);
    - *compare permalink*: opening the comparison's URL signed out and signing in (cold caches).
    """
    times: dict[str, float] = {}
    filter_50 = "run_id in (" + ", ".join(f"'{r}'" for r in compare_ids) + ")"
    with chromium() as browser:
        page = _page(browser)
        started = _sign_in(page, url, password, "runs?limit=1000")
        times["runs, first visit"] = _complete(
            page, started, lambda p: p.get_by_text("1,000 of 10,000 runs").wait_for()
        )
        _complete(page, _sign_in(page, url, password, "run?id=run-00001"), _chart_drawn)

        started = time.monotonic()
        open_from_sidebar(page, "Runs")
        times["runs cold"] = _complete(page, started, _runs_shown)
        open_from_sidebar(page, "Projects")
        wait_idle(page, timeout=120)
        started = time.monotonic()
        open_from_sidebar(page, "Runs")
        times["runs warm"] = _complete(page, started, _runs_shown)

        _complete(
            page,
            _sign_in(page, url, password, "runs?filter=" + quote(filter_50)),
            lambda p: p.get_by_text("50 of 50 runs").wait_for(),
        )
        table = page.locator('[data-testid="stDataFrame"]').first.bounding_box()
        assert table is not None
        page.mouse.click(table["x"] + 18, table["y"] + 17)  # the select-all box
        compare = page.locator('[data-testid="stPageLink"]', has_text="Compare 50 runs")
        compare.wait_for()
        wait_idle(page, timeout=120)
        started = time.monotonic()
        compare.click()
        times["compare cold"] = _complete(page, started, _compare_shown)
        started = time.monotonic()
        page.get_by_text("Log scale").click()
        times["compare warm"] = _complete(page, started, _compare_shown)
        page.context.close()

        page = _page(browser)
        _complete(page, _sign_in(page, url, password, "run?id=run-00002"), _chart_drawn)
        started = _sign_in(page, url, password, "compare?runs=" + ",".join(compare_ids) + "&x=time")
        times["compare permalink"] = _complete(page, started, _compare_shown)
        page.context.close()
    return times


def _page(browser: Browser) -> Page:
    page = new_page(browser, 1600, 1100)
    page.set_default_timeout(120_000)
    return page


def _chart_drawn(page: Page) -> None:
    page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for()


def _sign_in(page: Page, url: str, password: str, path: str) -> float:
    """Open ``path`` signed out, fill the form, click; returns the click's time."""
    page.goto(f"{url}/{path}")
    page.get_by_role("textbox", name="User").fill("bench")
    page.get_by_role("textbox", name="Password", exact=True).fill(password)
    started = time.monotonic()
    page.get_by_role("button", name="Sign in", exact=True).click()
    return started


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
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    shape = Shape(runs=10_000, big_every=200, big_steps=100_000)
    with tempfile.TemporaryDirectory(prefix="cairn-portal-bench-") as tmp:
        directory = args.dir or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        with local_endpoint(directory) as clickhouse_url:
            client = connect(clickhouse_url, database="default")
            if not loaded(client, DATABASE, shape):
                apply_migrations(client, DATABASE)
                print(
                    f"loading {shape.runs:,} runs and {shape.points:,} metric points ...",
                    flush=True,
                )
                load(client, DATABASE, shape, lambda line: print(line, flush=True))
            compare_ids = [f"run-{n:05d}" for n in range(0, shape.runs, shape.big_every)][:50]
            times: dict[str, list[float]] = {}
            for _ in range(args.repeat):
                with portal(clickhouse_url, directory) as (url, password):
                    for case, seconds in render_times(url, password, compare_ids).items():
                        times.setdefault(case, []).append(seconds)
    print(f"\nportal render, {args.repeat} fresh portal processes (seconds to a complete page)")
    print(f"{'case':<20} {'median':>7} {'best':>7} {'worst':>7}   target")
    for case, values in times.items():
        target = f"{TARGET_S:.1f} s" if case.endswith("cold") else ""
        print(
            f"{case:<20} {statistics.median(values):7.2f} {min(values):7.2f} {max(values):7.2f}   {target}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
