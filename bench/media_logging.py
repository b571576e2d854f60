"""``python -m bench.media_logging``: what ``run.log_image`` costs the training thread.

An offline run (no network: what is measured is the call, which never waits for ingest) logs
``--images`` 256 x 256 RGB images of four sorts: a smooth gradient (compresses well), the
gradient with a little noise (like a photo), noise (incompressible: the worst case) and one
image logged again and again (already in the store). Printed per
sort: the median and 95th percentile milliseconds per call, and what 1,000 images a minute
would add to a loop on one core. Then the store's size shows identical images stored once.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import cairn
from cairn.config import Capture, Mode, Settings

SIDE = 256


def _images(count: int) -> dict[str, list[np.ndarray]]:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:SIDE, 0:SIDE]
    smooth = [
        np.stack([(xx + i) % 256, yy, ((xx + yy) // 2 + i) % 256], -1).astype(np.uint8)
        for i in range(count)
    ]
    noise = [rng.integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8) for _ in range(count)]
    photo = [np.clip(s + rng.normal(0, 4, s.shape), 0, 255).astype(np.uint8) for s in smooth]
    return {
        "smooth": smooth, "photo-like": photo, "noise": noise, "same image": [noise[0]] * count,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=200, help="images per sort")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            team="bench", project="media", dir=Path(tmp), mode=Mode.OFFLINE,
            capture=Capture.nothing(),
        )  # fmt: skip
        with cairn.init(name="media-bench", settings=settings) as run:
            for sort, images in _images(args.images).items():
                costs = []
                for step, image in enumerate(images):
                    started = time.perf_counter()
                    run.log_image(
                        f"bench/{sort.replace(' ', '_')}", image, step=step, caption=f"{step}"
                    )
                    costs.append((time.perf_counter() - started) * 1e3)
                median = statistics.median(costs)
                p95 = statistics.quantiles(costs, n=20)[-1]
                share = 1_000 * median / 60_000 * 100
                print(
                    f"{sort:>10}: {median:.2f} ms median, {p95:.2f} ms p95 per call; "
                    f"1,000 a minute = {share:.1f} % of a minute on one core"
                )
        stored = [p for p in (Path(tmp) / "artifacts").rglob("*") if p.is_file()]
        total = sum(p.stat().st_size for p in stored)
        print(f"store: {len(stored)} blobs, {total / 2**20:.1f} MiB for {4 * args.images} calls")


if __name__ == "__main__":
    main()
