"""``make bench-replay``: how fast ``cairn replay`` rebuilds ClickHouse from Kafka, per core.

Starts a whole local stack in a temporary home (``localstack.ephemeral``), logs ``--points``
metric points through the SDK (5 keys, 1,000-point series, one run per ``--runs``), waits until
every point is queryable, then runs ``cairn replay`` exactly as a user does and reports:

- wall time and points/s of the replay (read the events topic from the beginning, project every
  event, insert into a scratch database, swap it in);
- CPU seconds of the replaying process (decode + project: the processors' code) and of the
  ClickHouse endpoint process (the engine's inserts), each as points per CPU second, which is the
  per-core figure docs/deploy.md sizes with;
- the machine's load average before and after (the machine may be shared: say so with the figure).

Run: ``python -m bench.replay_throughput [--points 2000000] [--runs 4]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SERIES_POINTS = 1_000
KEYS = ("loss", "acc", "lr", "grad_norm", "throughput")


def _worker(points: int, name: str) -> None:
    import numpy as np

    import cairn

    run = cairn.init(project="bench-replay", name=name, capture=False)
    values = np.random.default_rng(0).random(SERIES_POINTS)
    steps = np.arange(SERIES_POINTS, dtype=np.int64)
    sent, batch = 0, 0
    while sent < points:
        for key in KEYS:
            run.log_series(key, steps + batch * SERIES_POINTS, values)
            sent += SERIES_POINTS
        batch += 1
    run.finish()
    print(json.dumps({"run_id": run.id, "points": sent}))


def _cpu_seconds(pid: int) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def measure(points: int, runs: int) -> dict[str, Any]:
    from localstack.ephemeral import temporary_stack
    from query.client import connect

    load_before = os.getloadavg()
    with (
        tempfile.TemporaryDirectory(prefix="cairn-bench-replay-") as home,
        temporary_stack(Path(home)) as stack,
    ):
        client = connect(stack.admin_clickhouse_url)
        env = {**stack.env, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        workers = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bench.replay_throughput",
                    "--worker",
                    str(points // runs),
                    f"replay-{i}",
                ],
                env=env,
                stdout=subprocess.PIPE,
                text=True,
            )
            for i in range(runs)
        ]
        reports = [json.loads(w.communicate()[0].strip().splitlines()[-1]) for w in workers]
        total = sum(r["points"] for r in reports)
        while int(client.query("SELECT count() FROM metric_points").result_rows[0][0]) < total:
            time.sleep(0.5)
        endpoint_pid = int((Path(home) / "run" / "clickhouse.pid").read_text())
        endpoint_cpu = _cpu_seconds(endpoint_pid)
        log = Path(home) / "replay.out"
        started = time.monotonic()
        with log.open("w") as out:
            replay = subprocess.Popen(
                [sys.executable, "-m", "cairn.cli", "replay"], env=env, stdout=out, stderr=out
            )
            _, status, usage = os.wait4(replay.pid, 0)  # the child's own CPU time, from the kernel
        wall = time.monotonic() - started
        output = log.read_text()
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"cairn replay failed:\n{output}")
        endpoint_cpu = _cpu_seconds(endpoint_pid) - endpoint_cpu
        after = int(client.query("SELECT count() FROM metric_points").result_rows[0][0])
        found = re.search(r"replayed (\d+) events \((\d+) metric points", output)
        replay_cpu = usage.ru_utime + usage.ru_stime
        replayed_points = int(found.group(2)) if found else -1
        return {
            "points_logged": total,
            "points_replayed": replayed_points,
            "points_queryable_after": after,
            "replay_wall_s": round(wall, 1),
            "replay_points_per_s": round(replayed_points / wall),
            "replay_process_cpu_s": round(replay_cpu, 1),
            "replay_points_per_cpu_s": round(replayed_points / replay_cpu),
            "endpoint_cpu_s": round(endpoint_cpu, 1),
            "endpoint_points_per_cpu_s": round(replayed_points / endpoint_cpu),
            "minutes_per_100M_points_at_this_wall_rate": round(1e8 / (replayed_points / wall) / 60),
            "load_average_before": [round(x, 1) for x in load_before],
            "load_average_after": [round(x, 1) for x in os.getloadavg()],
            "cpus": os.cpu_count(),
            "cairn_replay_output": output.strip().splitlines()[-1],
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--worker", nargs=2, metavar=("POINTS", "NAME"), help=argparse.SUPPRESS)
    parser.add_argument("--points", type=int, default=2_000_000)
    parser.add_argument("--runs", type=int, default=4)
    args = parser.parse_args()
    if args.worker:
        _worker(int(args.worker[0]), args.worker[1])
        return
    print(json.dumps(measure(args.points, args.runs), indent=2))


if __name__ == "__main__":
    main()
