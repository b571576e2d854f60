"""``python -m bench.media_render``: how fast the Run page's Media tab shows 500 images at a step.

A throwaway local stack with the demo (:func:`tests.ui.stack.demo_stack`); a run of team risk
logs ``--images`` 256 x 256 RGB images (photo-like, each with a caption and a box) under one key
at one step through the SDK, into the stack's artifact store; once they are projected, headless
Chromium signs in as Alice on that run's Charts tab and clicks **Media**. Timed from the click
until the page is complete (the script run has finished, nothing is loading) with every image of
the grid's first page (``ui.media_view.IMAGES_PER_PAGE``) on screen: first with the portal's caches cold (every blob read and every overlay drawn), then
again in a new session (blobs and overlays cached by the portal process). Target: 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from query.access import Caller
from query.client import connect
from query.media import media_keys
from tests.ui.browser import chromium, new_page, sign_in, wait_idle
from tests.ui.stack import demo_stack
from ui.media_view import IMAGES_PER_PAGE

KEY = "bench/samples"
PAGE = IMAGES_PER_PAGE
TARGET_S = 2.0
SCRIPT = """
import sys
import numpy as np
import cairn

count = int(sys.argv[1])
rng = np.random.default_rng(0)
yy, xx = np.mgrid[0:256, 0:256]
with cairn.init(name="media-render-bench") as run:
    for i in range(count):
        base = np.stack([(xx + i) % 256, yy, ((xx + yy) // 2 + 3 * i) % 256], -1)
        image = np.clip(base + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8)
        run.log_image("bench/samples", image, step=0, caption=f"sample {i}",
                      boxes=[(16, 16, 128, 96, "object", 0.8)])
print(run.id)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=500)
    args = parser.parse_args()
    with demo_stack() as stack:
        key = json.loads((stack.home / "demo-seed-keys.json").read_text())["risk"]
        env = {
            **os.environ,
            "CAIRN_API_KEY": key,
            "CAIRN_INGEST_URL": f"127.0.0.1:{stack.env['CAIRN_INGEST_PORT']}",
            "CAIRN_TEAM": "risk",
            "CAIRN_PROJECT": "media-bench",
            "CAIRN_DIR": str(stack.home / "bench-sdk"),
            "CAIRN_ARTIFACT_STORE": str(stack.home / "artifacts"),
            "CAIRN_CAPTURE_OFF": "git,environment,packages,gpu,command,system_metrics",
        }
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(args.images)],
            env=env, capture_output=True, text=True, timeout=900, check=True,
        )  # fmt: skip
        run_id = done.stdout.strip().splitlines()[-1]
        print(f"logged {args.images} images in {time.monotonic() - started:.1f} s (SDK process)")
        store, admin = connect(stack.clickhouse_url), Caller("bench", admin=True)
        deadline = time.monotonic() + 120
        while not media_keys(store, admin, run_id):
            assert time.monotonic() < deadline, "the images were not projected within 120 s"
            time.sleep(1)
        times = []
        with chromium() as browser:
            for label in ("cold portal caches", "warm portal caches"):
                page = new_page(browser)
                page.set_default_timeout(120_000)
                sign_in(page, stack.portal_url, "alice", "cairn-demo", f"run?id={run_id}")
                wait_idle(page, timeout=120)
                clicked = time.monotonic()
                page.locator('[data-testid="stButtonGroup"] button', has_text="Media").click()
                wait_idle(page, timeout=120)
                idle = time.monotonic() - clicked
                shown = min(args.images, PAGE)  # the first page of the grid
                last = page.get_by_role("img", name=f"{KEY} image {shown - 1}")
                last.wait_for(state="attached")
                page.wait_for_function(
                    "n => [...document.images].filter(i => i.complete && i.naturalWidth).length >= n",
                    arg=shown,
                )
                elapsed = time.monotonic() - clicked
                times.append(elapsed)
                print(
                    f"Media tab, {args.images} images ({shown} on the first page), {label}: "
                    f"{elapsed:.2f} s "
                    f"(the portal's script done after {idle:.2f} s)"
                )
                page.context.close()
        print(f"target {TARGET_S:.0f} s: {'met' if max(times) <= TARGET_S else 'missed'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
