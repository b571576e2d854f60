"""``make screenshots``: every portal page with the demo's data, as PNGs in docs/screenshots/.

Starts a throwaway local stack, seeds the demo (:mod:`localstack.demo`), opens each page in
headless Chromium as a demo user and saves a full-page screenshot. Run it after changing a
page, then look at the images: they are what the README shows newcomers.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Browser, Page

from query.access import Caller
from query.client import connect
from query.runs import search_runs
from tests.ui.browser import chromium, exceptions, new_page, sign_in, wait_idle
from tests.ui.stack import DemoStack, demo_stack

PASSWORD = "cairn-demo"
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Shot:
    name: str  # the file name, without .png
    user: str
    path: str  # the page and its parameters; {run}, {runs} are filled in
    before: Callable[[Page], None] | None = field(default=None, compare=False)
    # A page that redraws itself once a second (a running run, ui/live.py) is never quiet for
    # long: wait for its chart, then a fixed moment, instead of for silence.
    live: bool = False


SHOTS = (
    Shot("sign-in", "", ""),
    Shot("projects", "dave", ""),
    Shot("runs", "alice", "runs?cols=name,owner,status,params.learning_rate,params.max_depth,metrics.val/auc"
         "&sort=metrics.val/auc+desc&group=params.max_depth", live=True),  # lgbm-v3-nightly runs
    Shot("run", "alice", "run?id={run}&tab=Charts&keys=val/loss,val/auc,train/loss,lr"),
    Shot("run-discussion", "alice", "run?id={run}&tab=Discussion"),
    Shot("run-live", "alice", "run?id={live}&tab=Charts&keys=val/loss,val/auc,train/loss,lr", live=True),
    Shot("compare", "alice", "compare?runs={runs}&keys=val/loss,val/auc"),
    Shot("compare-20", "dave", "compare?runs={twenty}&keys=val/loss,val/auc,train/loss", live=True),
    Shot("compare-params", "alice", "compare?runs={runs}&tab=Parallel+coordinates"),
    Shot("compare-code", "alice", "compare?runs={runs}&tab=Code"),
    Shot("lineage", "alice", "lineage?node=model_version:churn-classifier:2&dir=upstream&depth=5"),
    Shot("models", "alice", "models?model=churn-classifier&version=2"),
    Shot("discussion", "alice", "discussion?project=risk/churn"),
    Shot("handover", "alice", "handover?team=risk"),
    Shot("sharing", "alice", "sharing"),
)  # fmt: skip


def _ids(stack: DemoStack) -> dict[str, str]:
    found = search_runs(
        connect(stack.clickhouse_url), Caller("screenshots", admin=True), "team = 'risk'",
        columns=["run_id", "name"], limit=100,
    )  # fmt: skip
    by_name = dict(zip(found["name"], found["run_id"], strict=True))
    # Twenty runs dave sees (risk's and one of vision's) for the compare-at-scale shot.
    everyone = search_runs(
        connect(stack.clickhouse_url), Caller("screenshots", admin=True),
        "team in ('risk', 'vision')", "created asc", columns=["run_id"], limit=20,
    )  # fmt: skip
    trio = ("xgb-lr0.1-d6", "xgb-lr0.3-d6", "xgb-lr0.03-d8")
    return {
        "run": by_name["xgb-lr0.1-d6"],
        "runs": ",".join(by_name[n] for n in trio),
        "live": by_name["lgbm-v3-nightly"],  # the demo's running run
        "twenty": ",".join(everyone["run_id"]),
    }


def _open_live(page: Page, base_url: str, user: str, path: str) -> None:
    page.goto(f"{base_url}/{path}")
    page.get_by_role("textbox", name="User").fill(user)
    page.get_by_role("textbox", name="Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=stSkeleton], [data-testid=stSpinner]')",
        timeout=60_000,
    )
    page.wait_for_timeout(3000)  # a few ticks, so every chart has drawn


def take(browser: Browser, base_url: str, shot: Shot, ids: dict[str, str], out: Path) -> None:
    page = new_page(browser, 1440, 1250)
    try:
        if shot.live:
            _open_live(page, base_url, shot.user, shot.path.format(**ids))
        elif shot.user:
            sign_in(page, base_url, shot.user, PASSWORD, shot.path.format(**ids))
        else:
            page.goto(base_url)
            page.get_by_role("button", name="Sign in", exact=True).wait_for()
        if not shot.live:
            wait_idle(page, timeout=60, settle=1.5)
        if shot.before is not None:
            shot.before(page)
            wait_idle(page, timeout=60, settle=1.0)
        problems = exceptions(page)
        if problems:
            raise RuntimeError(f"{shot.name}: the page shows an exception:\n{problems[0]}")
        page.screenshot(path=str(out / f"{shot.name}.png"), full_page=True)
    finally:
        page.context.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.ui.screenshots")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with demo_stack() as stack, chromium() as browser:
        ids = _ids(stack)
        for shot in SHOTS:
            take(browser, stack.portal_url, shot, ids, args.out)
            print(f"  wrote {args.out / shot.name}.png", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
