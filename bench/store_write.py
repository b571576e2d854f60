"""``make bench-store``: what one metric point costs the store to write, by schema version.

Cairn's schema (query/migrations.py) is applied in a private chdb data directory (the engine the
local endpoint serves, without HTTP or a client in the way), once up to each migration named below;
then ``--points`` metric rows generated inside the engine (``INSERT INTO metrics SELECT ... FROM
numbers()``: 5 keys, 5 runs) are inserted ``--repeat`` times into each and timed. So the figure
is the engine's own work per point: the ``metrics`` table plus every materialized view a point
passes through at that schema version. Processors-side work (projection, rollups, serialising)
is measured by ``make bench-e2e``.

Run: ``python -m bench.store_write [--points 1000000] [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
