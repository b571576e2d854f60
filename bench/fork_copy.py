"""``make bench-fork``: what a fork's copy costs, and what reading by reference would cost instead.

Starts a whole stack on free ports (``localstack.ephemeral``), logs one parent run of 5 keys x
``CAIRN_BENCH_STEPS`` steps (default 20,000), then:

- **copy** (what ``cairn.init(fork_from=..., fork_step=N)`` does, N = the middle step): the time
  ``cairn.init`` takes (reading the parent through the query service and spooling the copy),
  the time until the fork's points are all readable, and how many points were copied;
- **reads**: the full history of the fork's own (copied) points, p50 of 10, against the read a
  *reference* design would need on the same store: the parent's points up to N united with the
  fork's own points after N (one SQL statement on ``metric_points``, the cheapest such read: no
  ancestor lookup, no rollup or summary path), p50 of 10.

Prints a Markdown table for docs/sdk.md. The machine it runs on matters: say which.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import cairn
from cairn.config import Capture, resolve_settings
from localstack.ephemeral import temporary_stack
from query.client import connect

KEYS = ("loss", "acc", "lr_now", "grad_norm", "val_loss")
PROJECT = "bench-fork"


def _p50(action: Callable[[], object], repeat: int) -> float:
    action()  # warm up
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def _wait(api: cairn.Api, run_id: str, points: int) -> None:
    while True:
        try:
            if sum(m["count"] for m in api.run(run_id).metrics.values()) >= points:
                return
        except cairn.errors.NotFoundError:
            pass
        time.sleep(0.2)


def main() -> int:
    steps = int(os.environ.get("CAIRN_BENCH_STEPS", "20000"))
    fork_step = steps // 2 - 1
    with (
        tempfile.TemporaryDirectory(prefix="cairn-bench-fork-") as tmp,
        temporary_stack(Path(tmp) / "stack") as stack,
    ):
        stack_file = Path(stack.env["CAIRN_LOCAL_STACK_FILE"])
        settings = replace(
            resolve_settings({}, env={}, stack_file=stack_file),
            dir=Path(tmp) / "sdk",
            project=PROJECT,
            capture=Capture.nothing(),
        )
        with cairn.init(name="parent", settings=settings) as parent:
            for step in range(steps):
                parent.log({k: 1.0 / (step + 1) + j for j, k in enumerate(KEYS)}, step=step)
        api = cairn.Api(settings=settings)
        _wait(api, parent.id, steps * len(KEYS))

        started = time.perf_counter()
        fork = cairn.init(name="fork", fork_from=parent.id, fork_step=fork_step, settings=settings)
        init_s = time.perf_counter() - started
        for _ in range(steps - fork_step - 1):
            fork.log(dict.fromkeys(KEYS, 0.5))
        fork.finish()
        _wait(api, fork.id, steps * len(KEYS))
        ready_s = time.perf_counter() - started
        copied = (fork_step + 1) * len(KEYS)

        own = _p50(lambda: api.histories([fork.id], KEYS), 10)
        client = connect(stack.admin_clickhouse_url)
        union = (
            "SELECT key, step, value FROM metric_points WHERE (run_id = {p:String} AND"
            " step <= {n:Int64}) OR (run_id = {f:String} AND step > {n:Int64})"
            " ORDER BY key, step"
        )
        plain = "SELECT key, step, value FROM metric_points WHERE run_id = {f:String} ORDER BY key, step"
        params = {"p": parent.id, "f": fork.id, "n": fork_step}
        reference_ms = _p50(lambda: client.query(union, parameters=params), 10)
        own_sql_ms = _p50(lambda: client.query(plain, parameters=params), 10)
    print(f"parent: {len(KEYS)} keys x {steps:,} steps; fork at step {fork_step:,}")
    print(f"(load average {os.getloadavg()[0]:.1f})")
    print("| measurement | result |")
    print("|---|---|")
    print(f"| points copied into the fork | {copied:,} |")
    print(
        f"| `cairn.init(fork_from=...)` (read parent + spool the copy) | {init_s * 1000:.0f} ms |"
    )
    print(f"| fork created until all its points are readable | {ready_s:.1f} s |")
    print(f"| fork's full history through `Api.histories` (p50) | {own:.0f} ms |")
    print(f"| SQL: the fork's own rows (copy design, p50) | {own_sql_ms:.0f} ms |")
    print(
        f"| SQL: parent <= N united with fork > N (reference design, p50) | {reference_ms:.0f} ms |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
