"""``make bench-footprint``: the local stack's memory under load, and ``cairn down`` with a stream open.

Starts a whole local stack in a temporary home (``localstack.ephemeral``), then:

1. Footprint: ``--processes`` training processes log 1,000-point series with ``run.log_series``
   as fast as the SDK accepts them for ``--seconds`` (the workers of ``bench.e2e_throughput``),
   until every point is queryable. Every 0.5 s each service's RSS is sampled (psutil, summed
   over the service's process tree: the portal's proxy and its Streamlit child count as one).
   Reported: the peak per service and the peak of the total (the largest sum of one sample).
2. Shutdown: one more training process streams paced series (``--stream-rate`` points/s) while
   ``cairn down`` runs (the command itself, timed), then ``cairn up`` starts the stack again in
   the same home; the process goes on logging, its SDK reconnects, and after ``finish()`` the
   store must hold every point it logged exactly once (count and distinct (key, step) both equal
   what the process reports).

Run: ``python -m bench.stack_footprint [--seconds 30] [--processes 2] [--stream-rate 20000]``
(``--logs DIR`` keeps the services' logs).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench.e2e_throughput import SERIES_POINTS
from localstack.processes import pid_alive

PARTS = ("kafka", "clickhouse", "ingest", "processors", "portal")
SAMPLE_INTERVAL_S = 0.5


def _tree_rss(pid: int) -> int:
    """RSS of ``pid`` and all its descendants, in bytes (0 once it is gone)."""
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for proc in tree:
        with contextlib.suppress(psutil.Error):  # exited since the listing
            total += proc.memory_info().rss
    return total


@dataclass
class Sampler:
    """Samples each part's tree RSS every ``SAMPLE_INTERVAL_S`` in a thread until stopped."""

    pids: dict[str, int]
    peaks: dict[str, int] = field(default_factory=dict)
    peak_total: int = 0
    samples: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_INTERVAL_S):
            sizes = {name: _tree_rss(pid) for name, pid in self.pids.items()}
            for name, size in sizes.items():
                self.peaks[name] = max(self.peaks.get(name, 0), size)
            self.peak_total = max(self.peak_total, sum(sizes.values()))
            self.samples += 1

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def _worker_stream(rate: int, stop_file: str, name: str) -> None:
    """Log paced series until ``stop_file`` exists, then finish; print what was logged."""
    import numpy as np

    import cairn

    run = cairn.init(project="bench", name=name, capture=False)
    values = np.random.default_rng(2).random(SERIES_POINTS)
    tick = SERIES_POINTS / rate
    start = time.monotonic()
    step = 0
    stop = Path(stop_file)
    print(json.dumps({"run_id": run.id}), flush=True)
    while not stop.exists():
        run.log_series("stream", np.arange(step, step + SERIES_POINTS), values)
        step += SERIES_POINTS
        sleep = start + (step / SERIES_POINTS) * tick - time.monotonic()
        if sleep > 0:
            time.sleep(sleep)
    run.finish()
    print(json.dumps({"run_id": run.id, "points": step}), flush=True)


def _spawn(env: dict[str, str], module: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", module, "--worker", *args],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )


def _pids(home: Path) -> dict[str, int]:
    return {part: int((home / "run" / f"{part}.pid").read_text().strip()) for part in PARTS}


def _watch_exits(pids: dict[str, int], started: float, gone: dict[str, float]) -> None:
    """Record in ``gone`` when each part's process exits (seconds after ``started``)."""
    while len(gone) < len(pids) and time.monotonic() - started < 170:
        for name, pid in pids.items():
            if name not in gone and not pid_alive(pid):
                gone[name] = time.monotonic() - started
        time.sleep(0.05)


def _counts(client: Any, run_id: str) -> tuple[int, int]:
    rows = client.query(
        "SELECT count(), uniqExact(key, step) FROM metric_points WHERE run_id = {r:String}",
        parameters={"r": run_id},
    ).result_rows
    return int(rows[0][0]), int(rows[0][1])


def _wait_count(client: Any, run_ids: list[str], total: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < deadline:
        seen = int(
            client.query(
                "SELECT count() FROM metric_points WHERE run_id IN {ids:Array(String)}",
                parameters={"ids": run_ids},
            ).result_rows[0][0]
        )
        if seen >= total:
            break
        time.sleep(0.2)
    return seen


def measure(
    seconds: float, processes: int, stream_rate: int, logs: Path | None = None
) -> dict[str, Any]:
    from localstack.ephemeral import cairn, temporary_stack
    from query.client import connect

    with (
        tempfile.TemporaryDirectory(prefix="cairn-bench-footprint-") as home,
        temporary_stack(Path(home)) as stack,
    ):
        env = {**stack.env, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        sampler = Sampler(_pids(Path(home)))
        idle = {name: _tree_rss(pid) for name, pid in sampler.pids.items()}
        sampler.start()
        workers = [
            _spawn(env, "bench.e2e_throughput", "throughput", str(seconds), f"fp-{i}")
            for i in range(processes)
        ]
        reports = [json.loads((w.communicate()[0]).strip().splitlines()[-1]) for w in workers]
        total = sum(r["points"] for r in reports)
        client = connect(stack.admin_clickhouse_url)
        visible = _wait_count(client, [r["run_id"] for r in reports], total, timeout=120)
        sampler.stop()
        footprint = {
            "points": total,
            "queryable": visible,
            "samples": sampler.samples,
            "idle_mb": {k: v / 2**20 for k, v in idle.items()},
            "peak_mb": {k: v / 2**20 for k, v in sampler.peaks.items()},
            "peak_total_mb": sampler.peak_total / 2**20,
        }

        stop_file = Path(home) / "stop-stream"
        stream = _spawn(env, "bench.stack_footprint", "stream", str(stream_rate), str(stop_file))
        assert stream.stdout is not None
        run_id = json.loads(stream.stdout.readline())["run_id"]
        time.sleep(5)  # the stream is open and delivering
        pids = _pids(Path(home))
        gone: dict[str, float] = {}
        started = time.monotonic()
        watcher = threading.Thread(target=_watch_exits, args=(pids, started, gone), daemon=True)
        watcher.start()
        down = cairn(stack.env, "down", timeout=180)
        down_s = time.monotonic() - started
        watcher.join(timeout=5)
        if down.returncode != 0:
            raise RuntimeError(f"cairn down failed:\n{down.stdout}\n{down.stderr}")
        time.sleep(2)  # the stream keeps logging into its spool while the stack is down
        started = time.monotonic()
        up = cairn(stack.env, "up", timeout=600)
        up_s = time.monotonic() - started
        if up.returncode != 0:
            raise RuntimeError(f"cairn up failed:\n{up.stdout}\n{up.stderr}")
        time.sleep(3)  # logging goes on after the restart: the SDK must reconnect
        stop_file.touch()
        report = json.loads(stream.communicate(timeout=120)[0].strip().splitlines()[-1])
        client = connect(stack.admin_clickhouse_url)
        _wait_count(client, [run_id], report["points"], timeout=120)
        time.sleep(1)  # anything beyond the expected count would show up now
        count, distinct = _counts(client, run_id)
        shutdown = {
            "down_s": down_s,
            "up_s": up_s,
            "stopped_after_s": gone,
            "logged": report["points"],
            "stored": count,
            "distinct": distinct,
            "exactly_once": count == distinct == report["points"],
        }
        if logs is not None:
            shutil.copytree(Path(home) / "logs", logs, dirs_exist_ok=True)
    return {"footprint": footprint, "shutdown": shutdown}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--stream-rate", type=int, default=20_000)
    parser.add_argument("--logs", type=Path, help="copy the services' logs here at the end")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _kind, rate, stop_file = args.worker
        _worker_stream(int(rate), stop_file, "stream")
        return
    result = measure(args.seconds, args.processes, args.stream_rate, args.logs)
    f, s = result["footprint"], result["shutdown"]
    print(
        f"stack RSS, {args.processes} SDK processes logging for {args.seconds:.0f} s "
        f"({f['points']:,} points, {f['queryable']:,} queryable, {f['samples']} samples):"
    )
    for part in PARTS:
        print(
            f"  {part:<11} idle {f['idle_mb'][part]:>6.0f} MB   peak {f['peak_mb'][part]:>6.0f} MB"
        )
    print(f"  {'total':<11} peak {f['peak_total_mb']:>6.0f} MB")
    print(
        f"cairn down with an SDK stream open: {s['down_s']:.1f} s (cairn up again {s['up_s']:.1f} s)"
    )
    print(
        f"  logged {s['logged']:,} points, stored {s['stored']:,} ({s['distinct']:,} distinct): "
        + ("exactly once" if s["exactly_once"] else "MISMATCH")
    )
    print(
        "  each part gone after: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in s["stopped_after_s"].items())
    )
    print(json.dumps(result))
    sys.stdout.flush()
    if not s["exactly_once"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
