"""``make bench-store``: what one metric point costs the store to write, by schema version.

Cairn's schema (query/migrations.py) is applied in a private chdb data directory (the engine the
local endpoint serves, without HTTP or a client in the way), once up to each migration named below;
then ``--points`` metric rows generated inside the engine (``INSERT INTO metrics SELECT ... FROM
numbers()``: 5 keys, 5 runs) are inserted ``--repeat`` times into each and timed. So the figure
is the engine's own work per point: the ``metrics`` table plus every materialized view a point
passes through at that schema version. Processors-side work (projection, rollups, serialising)
is measured in part 2.

Part 2 (``--endpoint``, on by default) writes the same number of points the way the processors do:
events with 1,000-point series of five keys are projected (``domain.projections``) and written by
``processors.projection_writer.ProjectionWriter`` through a local endpoint (HTTP, lz4) into a
freshly migrated database, once with the Arrow insert the writer uses for tables of strings,
numbers and times and once forced to clickhouse-connect's Native columns. It reports the wall
time of the write and the writer's CPU time (serialising; the rest is the endpoint and engine).

Run: ``python -m bench.store_write [--points 1000000] [--repeat 5] [--no-endpoint]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from domain.columns import ColumnBuffer
from query.migrations import MIGRATIONS

# (label, migrations applied): before migration 12 the store fed the two 64-step rollups itself.
SCHEMAS = (
    ("metrics and its summaries view (migration 2)", 2),
    ("+ bounds and the two rollup views (1-11)", 11),
    ("rollup views dropped (all: the processors)", len(MIGRATIONS)),
)

_INSERT = """
INSERT INTO {db}.metrics (run_id, key, step, timestamp, value, sequence)
SELECT concat('run-', toString(number % 5)),
    ['loss', 'acc', 'lr', 'grad_norm', 'throughput'][intDiv(number, 5) % 5 + 1],
    toInt64({offset} + intDiv(number, 25)), now64(9), rand64() / 1e19, 1
FROM numbers({points})
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--endpoint", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args(argv)

    from chdb import session  # dev tooling only: production writes through the endpoint

    store = session.Session(tempfile.mkdtemp(prefix="cairn-bench-store-"))
    print(f"{args.points:,} metric points per insert, {args.repeat} inserts per schema")
    for index, (label, upto) in enumerate(SCHEMAS):
        db = f"bench_{index}"
        store.query(f"CREATE DATABASE {db}")
        for migration in MIGRATIONS[:upto]:
            for sql in migration.rendered(db):
                store.query(sql)
        seconds = []
        for repeat in range(args.repeat):
            started = time.perf_counter()
            store.query(
                _INSERT.format(db=db, points=args.points, offset=repeat * args.points // 25)
            )
            seconds.append(time.perf_counter() - started)
        median = statistics.median(seconds)
        print(
            f"  {label:<46} median {median:.3f} s"
            f" ({args.points / median / 1e6:.2f} M points/s; min {min(seconds):.3f},"
            f" max {max(seconds):.3f})"
        )
        store.query(f"DROP DATABASE {db} SYNC")
    if args.endpoint:
        _through_the_endpoint(args.points, args.repeat)
    return 0


def _events(run_id: str, points: int) -> list[bytes]:
    """Metric events of five 1,000-point series each (the last one shorter), serialized."""
    import numpy as np

    from cairn_contract.v1 import envelope_pb2, events_pb2

    rng = np.random.default_rng(0)
    out = []
    step = 0
    while step * 5 < points:
        event = events_pb2.Event()
        env = event.envelope
        env.event_id, env.aggregate_id, env.sequence = f"{run_id}-{step}", run_id, step + 1
        env.aggregate_kind, env.team, env.project = envelope_pb2.AGGREGATE_KIND_RUN, "t", "p"
        env.occurred_at_ns = time.time_ns()
        count = min(1_000, points // 5 - step) or 1
        for key in ("loss", "acc", "lr", "grad_norm", "throughput"):
            series = event.metrics.series.add()
            series.key = key
            series.steps.extend(range(step, step + count))
            series.values.extend(rng.random(count).tolist())
        out.append(event.SerializeToString())
        step += count
    return out


def _through_the_endpoint(points: int, repeat: int) -> None:
    from bench.query_scale import local_endpoint
    from domain.projections import LogPosition, Projection
    from processors.projection_writer import ProjectionWriter
    from query.client import connect
    from query.migrations import apply_migrations

    print(f"through the endpoint, as the processors write: {points:,} points per write")
    with (
        tempfile.TemporaryDirectory(prefix="cairn-bench-store-") as home,
        local_endpoint(Path(home)) as url,
    ):
        apply_migrations(connect(f"{url}/default"), "bench")
        writer = ProjectionWriter(lambda: connect(f"{url}/bench"), "bench")
        results: dict[str, list[tuple[float, float]]] = {"Arrow": [], "Native": []}
        for attempt in range(repeat):
            for form, times in results.items():
                projection = Projection()
                for offset, raw in enumerate(_events(f"{form}-{attempt}", points)):
                    projection.add(raw, LogPosition("bench", 0, offset))
                if form == "Native":
                    for buffer in projection.buffers.values():
                        buffer.__class__ = _NativeOnly
                started, cpu = time.perf_counter(), time.process_time()
                writer.write(projection)
                times.append((time.perf_counter() - started, time.process_time() - cpu))
        for form, times in results.items():
            wall = statistics.median(t for t, _ in times)
            cpu_s = statistics.median(c for _, c in times)
            print(
                f"  {form + ' insert':<46} median {wall:.3f} s"
                f" ({points / wall / 1e6:.2f} M points/s; writer CPU {cpu_s:.3f} s)"
            )


class _NativeOnly(ColumnBuffer):
    """A buffer the writer sends as Native columns whatever its kinds."""

    @property
    def encodable(self) -> bool:
        return False


if __name__ == "__main__":
    raise SystemExit(main())
