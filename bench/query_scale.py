"""``make bench-query``: the query layer against a synthetic store at scale.

The store: 10,000 runs across 20 projects of 4 teams; every run has 5 params, 2 tags, a code
version, an environment of 40 packages, two input datasets, and an output artifact that the
next run of its project uses (so lineage chains run hundreds of levels deep); each project has
a model with versions built by its runs. Every run logs 5 metrics: 9,900 runs 100 steps each,
100 runs (every hundredth) 100,000 steps each, about 55 million points in all.

It is generated with ``INSERT ... SELECT`` from ``numbers()`` straight into the projection
tables, in the shapes ``domain/projections.py`` gives them (run fields as text, times in
nanoseconds), so every view and function reads it as it reads projected events. Nothing goes
through Kafka: this measures queries, not ingest. Loading takes a minute or two; ``--reuse``
keeps a loaded store between runs.

Then each function runs ``--repeat`` times (after one warm-up) as a caller who belongs to three
of the four teams and has a project and a run shared with them, so every query carries the
visibility filter; the median, the fastest and the target are printed:

- ``search_runs`` with a param + metric filter over all runs, sorted by the metric (100 ms);
- ``metric_series`` for the 100 long runs, 100,000 steps each, to 1,000 points (500 ms);
- ``compare_runs`` of 50 runs (200 ms);
- ``lineage`` 5 levels upstream of a run (100 ms).

Without ``--url`` a ClickHouse endpoint (``localstack.clickhouse_http``, the engine the local
stack runs) is started on a temporary directory and stopped at the end.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.client import Client

from localstack.clickhouse_http import write_users_file
from localstack.health import http_ok
from localstack.processes import free_port, start_process, stop_process, wait_until
from query.access import Caller
from query.client import connect
from query.compare import compare_runs
from query.ddl import SINGLE_NODE
from query.lineage import Node, lineage
from query.migrations import apply_migrations
from query.runs import search_runs
from query.series import metric_series
from query.series_schema import rollup_backfill
from query.sql import quote_identifier as q

USER = "bench-user"
CALLER = Caller(USER, frozenset({"team-0", "team-1", "team-2"}))

RUNS = 10_000
PROJECTS = 20
TEAMS = 4
BIG_EVERY = 100  # every hundredth run is a long one
BIG_STEPS = 100_000
SMALL_STEPS = 100
METRIC_KEYS = ("loss", "val_loss", "acc", "val_acc", "lr_now")
START_NS = 1_751_328_000 * 10**9  # 2025-07-01
RUN_SPACING_NS = 4_000 * 10**9  # a run every ~67 minutes: 10,000 runs span ~15 months


@dataclass(frozen=True)
class Shape:
    runs: int = RUNS
    big_every: int = BIG_EVERY
    big_steps: int = BIG_STEPS
    small_steps: int = SMALL_STEPS

    @property
    def big_runs(self) -> int:
        return len(range(0, self.runs, self.big_every))

    @property
    def points(self) -> int:
        small = self.runs - self.big_runs
        return len(METRIC_KEYS) * (self.big_runs * self.big_steps + small * self.small_steps)


def run_id_sql(number: str) -> str:
    return f"concat('run-', leftPad(toString({number}), 5, '0'))"


def _runs_source(shape: Shape) -> str:
    """One row per run with the derived columns every table needs."""
    return f"""
SELECT number AS i, {run_id_sql("number")} AS run_id,
    concat('team-', toString((i % {PROJECTS}) % {TEAMS})) AS team,
    concat('proj-', leftPad(toString(i % {PROJECTS}), 2, '0')) AS project,
    toInt64({START_NS}) + toInt64(i) * {RUN_SPACING_NS} AS created_ns,
    created_ns + toInt64(600 + (i % 7) * 300) * 1000000000 AS finished_ns,
    multiIf(i % 10 = 0, 'failed', i % 10 = 1, 'running', 'finished') AS status,
    concat('user-', leftPad(toString(i % 50), 2, '0')) AS owner,
    lower(hex(SHA256(concat('commit', toString(intDiv(i, 25)))))) AS commit_sha
FROM numbers({shape.runs})
"""


def _qualifier(db: str) -> Callable[[str], str]:
    def qualified(name: str) -> str:
        return f"{q(db)}.{q(name)}"

    return qualified


def _statements(db: str, shape: Shape) -> list[tuple[str, str]]:
    t = _qualifier(db)
    runs = _runs_source(shape)
    order = "1 AS sequence, fromUnixTimestamp64Nano(created_ns) AS occurred_at"
    return [
        (
            "run fields",
            f"""
INSERT INTO {t("run_fields")} (run_id, field, value, sequence, occurred_at, event_id)
SELECT run_id, f.1, f.2, if(f.1 IN ('status', 'finished_at'), 9, 1),
    fromUnixTimestamp64Nano(created_ns), concat(run_id, '-', f.1)
FROM ({runs})
ARRAY JOIN [
    ('team', team), ('project', project), ('name', concat('exp-', toString(i))),
    ('owner', owner), ('created_at', toString(created_ns)), ('started_at', toString(created_ns)),
    ('status', status), ('finished_at', if(status = 'running', '', toString(finished_ns))),
    ('description', 'synthetic run'), ('host', concat('gpu-', toString(i % 16))),
    ('parent_run_id', ''), ('sweep_id', concat('sweep-', toString(intDiv(i, 100)))),
    ('command_line', '["train.py"]'), ('status_reason', ''),
    ('exit_code', if(status = 'failed', '1', '0')), ('traceback', ''),
    ('git_commit', commit_sha), ('git_branch', 'main'),
    ('git_remote', 'git@example.com:ml/models.git'), ('git_dirty', if(i % 3 = 0, '1', '0'))
] AS f
""",
        ),
        (
            "params",
            f"""
INSERT INTO {t("params")} (run_id, key, value_type, value, value_number, sequence, occurred_at, event_id)
SELECT run_id, p.1, p.2, p.3, p.4, {order}, concat(run_id, '-params')
FROM (
    SELECT *, pow(10, -1 - (cityHash64(run_id, 'lr') % 4000) / 1000.0) AS lr,
        toFloat64(32 * (1 + i % 8)) AS batch, toFloat64(2 + i % 6) AS layers,
        (i % 5) / 10.0 AS dropout
    FROM ({runs})
)
ARRAY JOIN [
    ('lr', 'float', toString(lr), lr),
    ('batch_size', 'int', toString(toInt64(batch)), batch),
    ('optimizer', 'string', ['adam', 'sgd', 'adamw'][1 + i % 3], nan),
    ('model.layers', 'int', toString(toInt64(layers)), layers),
    ('dropout', 'float', toString(dropout), dropout)
] AS p
""",
        ),
        (
            "tags",
            f"""
INSERT INTO {t("tags")} (run_id, key, value, removed, sequence, occurred_at, event_id)
SELECT run_id, g.1, g.2, false, {order}, concat(run_id, '-tags')
FROM ({runs})
ARRAY JOIN [('stage', ['tuning', 'baseline', 'candidate'][1 + i % 3]),
            ('data', concat('v', toString(intDiv(i, 1000))))] AS g
""",
        ),
    ]


def _metric_insert(db: str, shape: Shape, key_index: int, big: bool) -> str:
    """One metric key for the small or the big runs, as a single streaming INSERT."""
    key = METRIC_KEYS[key_index]
    steps = shape.big_steps if big else shape.small_steps
    if big:
        count = shape.big_runs * steps
        run_number = f"intDiv(number, {steps}) * {shape.big_every}"
    else:
        small = shape.runs - shape.big_runs
        count = small * steps
        # the n-th run that is not a multiple of big_every
        k = f"intDiv(number, {steps})"
        run_number = f"({k} + intDiv({k}, {shape.big_every - 1}) + 1)"
    step = f"toInt64(number % {steps})"
    progress = f"({step} / {steps})"
    noise = f"((cityHash64(number, {key_index}) % 10000) / 10000.0 - 0.5)"
    value = {
        "loss": f"2.5 * exp(-4 * {progress}) + 0.05 * {noise}",
        "val_loss": f"2.6 * exp(-3.5 * {progress}) + 0.1 * {noise}",
        "acc": f"0.95 - 0.85 * exp(-5 * {progress}) + 0.02 * {noise}",
        "val_acc": f"0.9 - 0.8 * exp(-4 * {progress}) + 0.03 * {noise} + ({run_number} % 97) / 2000.0",
        "lr_now": f"0.001 * (1 - {progress})",
    }[key]
    run_id = run_id_sql(run_number)
    created = f"(toInt64({START_NS}) + toInt64({run_number}) * {RUN_SPACING_NS})"
    return f"""
INSERT INTO {q(db)}.metrics (run_id, key, step, timestamp, value, sequence)
SELECT {run_id}, '{key}', {step}, fromUnixTimestamp64Nano({created} + {step} * 10000000),
    {value}, 1
FROM numbers({count})
"""


def _provenance(db: str, shape: Shape) -> list[tuple[str, str]]:
    t = _qualifier(db)
    runs = _runs_source(shape)
    order = "1 AS sequence, fromUnixTimestamp64Nano(created_ns) AS occurred_at"
    artifact = "lower(hex(SHA256(concat('artifact-', run_id))))"
    previous = f"{run_id_sql(f'i - {PROJECTS}')}"
    previous_artifact = f"lower(hex(SHA256(concat('artifact-', {previous}))))"
    train_digest = "concat('sha256:', lower(hex(SHA256(concat(project, '-train-', toString(intDiv(i, 2000)))))))"
    eval_digest = "concat('sha256:', lower(hex(SHA256(concat(project, '-eval')))))"
    return [
        (
            "code versions",
            f"""
INSERT INTO {t("code_versions")} (run_id, git_remote, branch, commit, dirty, diff, diff_truncated,
    diff_sha256, entry_point, sequence, occurred_at, event_id)
SELECT run_id, 'git@example.com:ml/models.git', 'main', commit_sha, i % 3 = 0,
    if(i % 3 = 0, concat('--- a/train.py\\n+++ b/train.py\\n@@ -1 +1 @@\\n-lr = 1\\n+lr = ', toString(i)), ''),
    false, '', 'train.py', {order}, concat(run_id, '-code')
FROM ({runs})
""",
        ),
        (
            "environments",
            f"""
INSERT INTO {t("environments")} (run_id, python_version, python_implementation, os, os_version,
    cpu_model, cpu_count, memory_bytes, gpus, cuda_version, cudnn_version, container_image,
    container_digest, hostname, package_count, sequence, occurred_at, event_id)
SELECT run_id, if(i < 5000, '3.11.9', '3.12.4'), 'CPython', 'Linux', '6.8', 'EPYC', 32,
    137438953472, ['A100 (80GB)'], '12.4', '9.1', 'ghcr.io/ml/train:1', '', 'gpu', 40,
    {order}, concat(run_id, '-env')
FROM ({runs})
""",
        ),
        (
            "packages",
            f"""
INSERT INTO {t("environment_packages")} (run_id, name, version, source, sequence, occurred_at, event_id)
SELECT run_id, concat('pkg-', toString(p)),
    concat(toString(1 + p % 3), '.', toString(if(p < 5, intDiv(i, 2500), 0)), '.0'), 'pip',
    {order}, concat(run_id, '-env')
FROM ({runs}) ARRAY JOIN range(40) AS p
""",
        ),
        (
            "datasets",
            f"""
INSERT INTO {t("datasets")} (run_id, name, uri, digest, size_bytes, manifest_digest, file_count, role,
    version, team, project, sequence, occurred_at, event_id)
SELECT run_id, d.1, concat('s3://data/', project, '/', d.1), d.2, 1000000, d.2, 10, 'input', '',
    team, project, {order}, concat(run_id, '-ds-', d.1)
FROM ({runs}) ARRAY JOIN [('train', {train_digest}), ('eval', {eval_digest})] AS d
""",
        ),
        (
            "artifacts",
            f"""
INSERT INTO {t("artifacts")} (run_id, name, kind, uri, sha256, size_bytes, metadata, role, team,
    project, sequence, occurred_at, event_id)
SELECT run_id, 'model.pt', 'model', concat('s3://artifacts/', run_id), {artifact}, 1000, map(),
    'output', team, project, {order}, concat(run_id, '-artifact')
FROM ({runs})
""",
        ),
        (
            "lineage",
            f"""
INSERT INTO {t("lineage")} (source_kind, source_id, source_version, source_name, relation,
    target_kind, target_id, target_version, target_name, team, project, actor, sequence,
    occurred_at, event_id)
SELECT 'run', run_id, 0, '', e.1, e.2, e.3, 0, e.4, team, project, owner, {order},
    concat(run_id, '-edge-', e.3)
FROM ({runs})
ARRAY JOIN arrayConcat(
    [('used', 'dataset', {train_digest}, 'train'), ('used', 'dataset', {eval_digest}, 'eval'),
     ('produced', 'artifact', {artifact}, 'model.pt')],
    if(i >= {PROJECTS}, [('used', 'artifact', {previous_artifact}, 'model.pt')], [])
) AS e
""",
        ),
        (
            "models",
            f"""
INSERT INTO {t("models")} (model_id, name, description, team, project, actor, sequence, occurred_at, event_id)
SELECT concat('model-', project), concat(project, '-classifier'), '', team, project, owner, {order},
    concat('model-', project, '-registered')
FROM ({runs}) WHERE i < {PROJECTS}
""",
        ),
        (
            "model versions",
            f"""
INSERT INTO {t("model_versions")} (model_id, version, run_id, artifact_name, artifact_uri,
    artifact_sha256, description, team, project, actor, sequence, occurred_at, event_id)
SELECT concat('model-', project), intDiv(i, {PROJECTS * 100}) + 1, run_id, 'model.pt',
    concat('s3://artifacts/', run_id), {artifact}, '', team, project, owner, {order},
    concat(run_id, '-version')
FROM ({runs}) WHERE i % {PROJECTS * 100} >= {PROJECTS * 100 - PROJECTS} AND status = 'finished'
""",
        ),
        (
            "model lineage",
            f"""
INSERT INTO {t("lineage")} (source_kind, source_id, source_version, source_name, relation,
    target_kind, target_id, target_version, target_name, team, project, actor, sequence,
    occurred_at, event_id)
SELECT 'model_version', model_id, version, '', 'built_by', 'run', run_id, 0, '', team, project,
    actor, sequence, occurred_at, concat(event_id, '-edge')
FROM {t("model_versions")}
""",
        ),
        (
            "model stages",
            f"""
INSERT INTO {t("model_stages")} (model_id, version, kind, name, removed, reason, actor, sequence,
    occurred_at, event_id)
SELECT model_id, version, 'stage', if(version = 5, 'production', 'archived'), false, '', actor,
    2, occurred_at, concat(event_id, '-stage')
FROM {t("model_versions")}
""",
        ),
        (
            "comments",
            f"""
INSERT INTO {t("comments")} (comment_id, action, target_kind, target_id, team, project, author,
    body_markdown, anchor_metric, anchor_step_min, anchor_step_max, reply_to, mentions, reason,
    sequence, occurred_at, event_id)
SELECT concat(run_id, '-c'), 'added', 'run', run_id, team, project, owner,
    'looks promising', '', 0, 0, '', [], '', {order}, concat(run_id, '-comment')
FROM ({runs}) WHERE i % 5 = 0
""",
        ),
        (
            "shares",
            f"""
INSERT INTO {t("shares")} (target_kind, target_id, team, project, grantee_kind, grantee_id, access,
    active, note, actor, sequence, occurred_at, event_id)
VALUES ('project', 'proj-03', 'team-3', 'proj-03', 'user', '{USER}', 'view', true, '', 'user-03',
        1, now64(9), 'share-1'),
    ('run', 'run-00001', 'team-1', 'proj-01', 'team', 'team-9', 'view', true, '', 'user-01', 1,
        now64(9), 'share-2')
""",
        ),
        (
            "activity archive",
            f"""
INSERT INTO {t("events")} (event_id, event_type, schema_version, aggregate_kind, aggregate_id,
    sequence, occurred_at, received_at, actor_kind, actor, team, project, payload, source_topic,
    source_partition, source_offset)
SELECT concat(run_id, '-', e), e, 1, 'run', run_id, 1, fromUnixTimestamp64Nano(created_ns),
    fromUnixTimestamp64Nano(created_ns), 'user', owner, team, project, '', 'cairn.events.v1', 0, i
FROM ({runs}) ARRAY JOIN ['run_created', 'params_set', 'run_status_changed'] AS e
""",
        ),
    ]


def load(client: Client, database: str, shape: Shape, log: Callable[[str], None]) -> None:
    """Fill the (freshly migrated, empty) ``database`` with the synthetic store."""
    steps = _statements(database, shape) + _provenance(database, shape)
    for index in range(len(METRIC_KEYS)):
        steps.append(
            (
                f"metric {METRIC_KEYS[index]} (short runs)",
                _metric_insert(database, shape, index, False),
            )
        )
        steps.append(
            (
                f"metric {METRIC_KEYS[index]} (long runs)",
                _metric_insert(database, shape, index, True),
            )
        )
    for label, sql in steps:
        started = time.monotonic()
        client.command(sql, settings={"max_insert_threads": 2, "max_threads": 2})
        log(f"  loaded {label:<32} {time.monotonic() - started:6.1f} s")
    started = time.monotonic()
    for statement in rollup_backfill():  # the processors would have written them with the points
        for sql in statement.render(database, SINGLE_NODE):
            client.command(sql, settings={"max_insert_threads": 2, "max_threads": 2})
    log(f"  loaded {'metric rollups':<32} {time.monotonic() - started:6.1f} s")
    for table in (
        "metrics",
        "metric_summaries",
        "metric_bounds",
        "metric_rollup",
        "metric_rollup_ends",
        "run_fields",
        "params",
        "lineage",
    ):
        started = time.monotonic()
        client.command(f"OPTIMIZE TABLE {q(database)}.{q(table)} FINAL")
        log(f"  merged {table:<32} {time.monotonic() - started:6.1f} s")


# --- the endpoint ------------------------------------------------------------------------------


@contextmanager
def local_endpoint(directory: Path) -> Iterator[str]:
    """A ClickHouse endpoint on ``directory`` for the benchmark's lifetime; yields its admin URL."""
    password = secrets.token_urlsafe(12)
    users = directory / "users.json"
    write_users_file(users, {"cairn": (password, False)})
    port = free_port()
    log_path = directory / "clickhouse.log"
    process = start_process(
        [
            sys.executable,
            "-m",
            "localstack.clickhouse_http",
            "--data-dir",
            str(directory / "data"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--users-file",
            str(users),
        ],
        log_path=log_path,
        env=dict(os.environ),
    )
    try:
        wait_until(
            lambda: http_ok(f"http://127.0.0.1:{port}/ping"),
            what="clickhouse endpoint",
            timeout=60,
            process=process,
            log_path=log_path,
        )
        yield f"http://cairn:{password}@127.0.0.1:{port}"
    finally:
        stop_process(process)


def loaded(client: Client, database: str, shape: Shape) -> bool:
    exists = client.query(
        "SELECT count() FROM system.tables WHERE database = {db:String} AND name = 'run_fields'",
        parameters={"db": database},
    ).result_rows[0][0]
    if not exists:
        return False
    points = client.query(f"SELECT count() FROM {q(database)}.metrics").result_rows[0][0]
    return bool(points == shape.points)


# --- measuring -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    target_ms: float
    run: Callable[[], Any]
    describe: Callable[[Any], str]


@dataclass(frozen=True)
class Timing:
    case: Case
    median_ms: float
    fastest_ms: float
    result: str


def measure(case: Case, repeat: int) -> Timing:
    result = case.run()  # warm-up: caches, connections
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = case.run()
        times.append((time.perf_counter() - started) * 1000)
    return Timing(case, statistics.median(times), min(times), case.describe(result))


def cases(client: Client, database: str, shape: Shape) -> list[Case]:
    long_runs = [f"run-{i:05d}" for i in range(0, shape.runs, shape.big_every)]
    compared = [f"run-{i:05d}" for i in range(1, shape.runs, shape.runs // 50)][:50]
    chain_end = f"run-{shape.runs - PROJECTS:05d}"  # team-0's, deep in its project's chain
    filter_text = "params.lr < 1e-3 and metrics.val_acc > 0.9"
    return [
        Case(
            "search_runs (param + metric filter, all runs)",
            100,
            lambda: search_runs(
                client,
                CALLER,
                filter_text,
                order_by="metrics.val_acc desc",
                limit=100,
                columns=["run_id", "project", "status", "params.lr", "metrics.val_acc"],
                database=database,
            ),
            lambda df: f"{len(df)} rows",
        ),
        Case(
            "metric_series (100 runs x 100k steps -> 1,000)",
            500,
            lambda: metric_series(client, CALLER, long_runs, ["val_acc"], 1_000, database=database),
            lambda df: f"{len(df):,} points, {df.groupby('run_id').size().max()} max per series",
        ),
        Case(
            "compare_runs (50 runs)",
            200,
            lambda: compare_runs(client, CALLER, compared, database=database),
            lambda c: f"{len(c.params_differing)} differing params, {len(c.metrics)} metrics",
        ),
        Case(
            "lineage (depth 5 upstream)",
            100,
            lambda: lineage(
                client, CALLER, Node("run", chain_end), "upstream", 5, database=database
            ),
            lambda g: f"{len(g.nodes)} nodes, {len(g.edges)} edges",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Query-layer benchmark on a synthetic store.")
    parser.add_argument("--url", help="admin URL of a ClickHouse endpoint (default: start one)")
    parser.add_argument("--database", default="bench_query")
    parser.add_argument("--repeat", type=int, default=9, help="timed runs per function")
    parser.add_argument("--reuse", action="store_true", help="keep an already loaded store")
    parser.add_argument("--data-dir", help="endpoint data directory to keep (with --reuse)")
    args = parser.parse_args(argv)
    shape = Shape()
    with tempfile.TemporaryDirectory(prefix="cairn-bench-query-") as scratch:
        if args.url:
            return run(args.url, args, shape)
        directory = Path(args.data_dir) if args.data_dir else Path(scratch)
        directory.mkdir(parents=True, exist_ok=True)
        with local_endpoint(directory) as url:
            return run(url, args, shape)


def run(url: str, args: argparse.Namespace, shape: Shape) -> int:
    admin = connect(f"{url}/default", timeout_s=3600)  # OPTIMIZE of 55 M points
    print(f"store: {shape.runs:,} runs, {shape.big_runs} long ones, {shape.points:,} points")
    if args.reuse and loaded(admin, args.database, shape):
        print(f"reusing the store in {args.database}")
    else:
        started = time.monotonic()
        admin.command(f"DROP DATABASE IF EXISTS {q(args.database)} SYNC")
        apply_migrations(admin, args.database)
        load(admin, args.database, shape, lambda line: print(line, flush=True))
        print(f"loaded in {time.monotonic() - started:.0f} s")
    client = connect(f"{url}/{args.database}")
    print(f"\nload average before: {os.getloadavg()[0]:.2f} (on {os.cpu_count()} cores)")
    print(f"{'function':<50} {'median':>9} {'fastest':>9} {'target':>8}  result")
    missed = 0
    for case in cases(client, args.database, shape):
        timing = measure(case, args.repeat)
        verdict = "ok" if timing.median_ms <= case.target_ms else "MISSED"
        missed += verdict != "ok"
        print(
            f"{case.name:<50} {timing.median_ms:7.1f}ms {timing.fastest_ms:7.1f}ms"
            f" {case.target_ms:6.0f}ms  {verdict}: {timing.result}",
            flush=True,
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}; {missed} of 4 targets missed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
