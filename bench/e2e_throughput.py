"""``make bench-e2e``: metric points through SDK -> ingest -> Kafka -> processors -> ClickHouse.

Starts a whole local stack in a temporary home (``localstack.ephemeral``), then measures:

1. Sustained throughput: ``--processes`` training processes log 1,000-point series as fast as the
   SDK accepts them for ``--seconds``; the figure is points made queryable per second, from the
   first log call until the last point is visible to ``SELECT count() FROM metric_points``.
2. Freshness: one process logs at a paced ``--rate`` points/s and, every 100 ms, one ``probe``
   point; the parent polls the store and records when each probe becomes visible. The lag is
   visible-at minus logged-at (same machine clock), reported as p50/p99.

Run: ``python -m bench.e2e_throughput [--seconds 60] [--processes 2] [--rate 100000]``.
``--flamegraphs DIR`` also samples the processors, ingest and the ClickHouse endpoint with
``py-spy`` (in the dev extra) during the throughput phase and writes ``DIR/e2e-<part>.svg``: where
each service's time goes (Python frames, sampled without pausing the process: the engine's C++
shows as time inside the endpoint's ``chdb`` calls).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SERIES_POINTS = 1_000
PROFILED_PARTS = ("processors", "ingest", "clickhouse")


def _worker_throughput(seconds: float, name: str) -> None:
    import numpy as np

    import cairn

    run = cairn.init(project="bench", name=name, capture=False)
    values = np.random.default_rng(0).random(SERIES_POINTS)
    steps = np.arange(SERIES_POINTS, dtype=np.int64)
    sent = 0
    started = time.time()
    deadline = time.monotonic() + seconds
    batch = 0
    while time.monotonic() < deadline:
        for key in ("loss", "acc", "lr", "grad_norm", "throughput"):
            run.log_series(key, steps + batch * SERIES_POINTS, values)
            sent += SERIES_POINTS
        batch += 1
    logged = time.time()
    run.finish()
    print(
        json.dumps(
            {
                "run_id": run.id,
                "points": sent,
                "started": started,
                "logged": logged,
                "acked": time.time(),
            }
        )
    )


def _worker_paced(seconds: float, rate: int, name: str) -> None:
    import numpy as np

    import cairn

    run = cairn.init(project="bench", name=name, capture=False)
    values = np.random.default_rng(1).random(SERIES_POINTS)
    probes: dict[int, float] = {}
    tick = SERIES_POINTS / rate  # seconds between 1,000-point series
    start = time.monotonic()
    step = 0
    probe = 0
    next_probe = start
    while (now := time.monotonic()) - start < seconds:
        run.log_series("paced", np.arange(step, step + SERIES_POINTS), values)
        step += SERIES_POINTS
        if now >= next_probe:
            probes[probe] = time.time()
            run.log({"probe": float(probe)}, step=probe)
            probe += 1
            next_probe += 0.1
        sleep = start + (step / SERIES_POINTS) * tick - time.monotonic()
        if sleep > 0:
            time.sleep(sleep)
    run.finish()
    print(json.dumps({"run_id": run.id, "points": step + probe, "probes": probes}))


def _spawn(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.e2e_throughput", "--worker", *args],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )


def _count(client: Any, run_ids: list[str]) -> int:
    rows = client.query(
        "SELECT count() FROM metric_points WHERE run_id IN {ids:Array(String)}",
        parameters={"ids": run_ids},
    ).result_rows
    return int(rows[0][0])


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _flamegraphs(home: Path, seconds: float, out: Path) -> list[subprocess.Popen[bytes]]:
    """One ``py-spy record`` per service of the stack in ``home``, for ``seconds``."""
    spy = Path(sys.executable).with_name("py-spy")
    out.mkdir(parents=True, exist_ok=True)
    recorders = []
    for part in PROFILED_PARTS:
        pid = (home / "run" / f"{part}.pid").read_text().strip()
        command = [str(spy), "record", "--pid", pid, "--duration", str(int(seconds)),
                   "--rate", "50", "--nonblocking",
                   "--output", str(out / f"e2e-{part}.svg")]  # fmt: skip
        recorders.append(subprocess.Popen(command, stdout=subprocess.DEVNULL))
    return recorders


def measure(
    seconds: float, processes: int, rate: int, flamegraphs: Path | None = None
) -> dict[str, Any]:
    from localstack.ephemeral import temporary_stack
    from query.client import connect

    with (
        tempfile.TemporaryDirectory(prefix="cairn-bench-e2e-") as home,
        temporary_stack(Path(home)) as stack,
    ):
        client = connect(stack.admin_clickhouse_url)
        env = {**stack.env, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}

        workers = [_spawn(env, "throughput", str(seconds), f"tp-{i}") for i in range(processes)]
        recorders = _flamegraphs(Path(home), seconds, flamegraphs) if flamegraphs else []
        reports = [json.loads(w.communicate()[0].strip().splitlines()[-1]) for w in workers]
        run_ids = [r["run_id"] for r in reports]
        total = sum(r["points"] for r in reports)
        started = min(r["started"] for r in reports)
        while _count(client, run_ids) < total:
            time.sleep(0.1)
        visible = time.time()
        for recorder in recorders:
            recorder.wait(timeout=seconds + 60)
        throughput = {
            "processes": processes,
            "seconds": seconds,
            "points": total,
            "sdk_accept_points_per_s": total / (max(r["logged"] for r in reports) - started),
            "acked_points_per_s": total / (max(r["acked"] for r in reports) - started),
            "queryable_points_per_s": total / (visible - started),
        }

        paced = _spawn(env, "paced", str(seconds), str(rate), "fresh")
        seen: dict[int, float] = {}
        run_id: str | None = None
        while paced.poll() is None or run_id is None:
            if run_id is None:
                found = client.query(
                    "SELECT run_id FROM runs WHERE name = 'fresh' LIMIT 1"
                ).result_rows
                run_id = found[0][0] if found else None
            if run_id is not None:
                now = time.time()
                for (step,) in client.query(
                    "SELECT step FROM metric_points WHERE run_id = {r:String} AND key = 'probe'",
                    parameters={"r": run_id},
                ).result_rows:
                    seen.setdefault(int(step), now)
            if paced.poll() is not None and run_id is None:
                break
            time.sleep(0.05)
        report = json.loads((paced.stdout.read() if paced.stdout else "").strip().splitlines()[-1])
        probes = {int(k): v for k, v in report["probes"].items()}
        deadline = time.time() + 30
        while len(seen) < len(probes) and time.time() < deadline:
            now = time.time()
            for (step,) in client.query(
                "SELECT step FROM metric_points WHERE run_id = {r:String} AND key = 'probe'",
                parameters={"r": report["run_id"]},
            ).result_rows:
                seen.setdefault(int(step), now)
            time.sleep(0.05)
        lags = [seen[k] - sent for k, sent in probes.items() if k in seen]
        freshness = {
            "rate_points_per_s": rate,
            "probes": len(probes),
            "probes_seen": len(lags),
            "lag_p50_s": statistics.median(lags) if lags else None,
            "lag_p99_s": _percentile(lags, 0.99) if lags else None,
        }
    return {"throughput": throughput, "freshness": freshness}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--rate", type=int, default=100_000)
    parser.add_argument("--flamegraphs", type=Path, help="write py-spy flame graphs here")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, *rest = args.worker
        if kind == "throughput":
            _worker_throughput(float(rest[0]), rest[1])
        else:
            _worker_paced(float(rest[0]), int(rest[1]), rest[2])
        return
    result = measure(args.seconds, args.processes, args.rate, args.flamegraphs)
    t, f = result["throughput"], result["freshness"]
    print(
        f"end to end, {t['processes']} SDK processes for {t['seconds']:.0f} s: {t['points']:,} points"
    )
    print(f"  SDK accepted      {t['sdk_accept_points_per_s']:>12,.0f} points/s")
    print(f"  acked by ingest   {t['acked_points_per_s']:>12,.0f} points/s")
    print(f"  queryable         {t['queryable_points_per_s']:>12,.0f} points/s")
    print(
        f"freshness at {f['rate_points_per_s']:,} points/s: {f['probes_seen']}/{f['probes']} probes seen"
    )
    if f["lag_p50_s"] is not None:
        print(f"  lag p50 {f['lag_p50_s'] * 1000:.0f} ms, p99 {f['lag_p99_s'] * 1000:.0f} ms")
    print(json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
