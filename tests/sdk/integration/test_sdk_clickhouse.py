"""End to end: the SDK → real ingest → real Kafka → real processors → ClickHouse (chdb endpoint).
A run logged with the documented API reads back complete and correct through the SQL views users
query."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

import cairn
from cairn.config import Capture
from ingest.keys import issue_key_directly
from query.migrations import apply_migrations, drop_database
from tests.integration.conftest_clickhouse import ClickHouseEndpoint
from tests.integration.processors_harness import Topics, Worker, create_topics, eventually, store
from tests.sdk.integration.conftest import TEAM, IngestProcess, Stack

pytestmark = pytest.mark.integration


@pytest.fixture
def pipeline(
    kafka_bootstrap: str, clickhouse_endpoint: ClickHouseEndpoint, tmp_path: Path
) -> Iterator[tuple[Stack, IngestProcess, str]]:
    """Topics, a key, ingest and a processors worker of this test's own, and a fresh database."""
    names = Topics.unique()

    async def prepare() -> str:
        await create_topics(kafka_bootstrap, names)
        return await issue_key_directly(
            kafka_bootstrap, team=TEAM, role="writer", topic=names.identity
        )

    stack = Stack(kafka_bootstrap, names.events, names.identity, asyncio.run(prepare()))
    database = f"sdk_{uuid.uuid4().hex[:10]}"
    apply_migrations(store(f"{clickhouse_endpoint.url}/default"), database)
    url = f"{clickhouse_endpoint.url}/{database}"
    server = stack.ingest(tmp_path).start()
    worker = Worker(kafka_bootstrap, url, names, tmp_path, f"g-{database}").start()
    try:
        yield stack, server, url
    finally:
        worker.stop()
        server.stop()
        drop_database(store(f"{clickhouse_endpoint.url}/default"), database)


async def test_a_logged_run_is_complete_and_correct_in_clickhouse(
    pipeline: tuple[Stack, IngestProcess, str], tmp_path: Path
) -> None:
    stack, server, url = pipeline
    (tmp_path / "train.parquet").write_bytes(b"PAR1 rows")
    (tmp_path / "model.pt").write_bytes(b"weights")
    settings = replace(
        stack.settings(tmp_path / "cairn", server.address, artifact_store=str(tmp_path / "store")),
        capture=Capture(system_metrics=False),
    )

    def train() -> str:
        with cairn.init(
            name="baseline",
            config={"lr": 3e-4, "model": {"layers": 4}},
            tags={"team": "risk"},
            settings=settings,
        ) as run:
            for step in range(1000):
                run.log({"loss": 1.0 / (step + 1), "acc": step / 1000}, step=step)
            run.log_params({"batch_size": 64})
            run.set_tags({"stage": "tuning"})
            run.use_dataset(tmp_path / "train.parquet", name="train")
            run.log_artifact(tmp_path / "model.pt", kind="model")
            run.comment("Switched to cosine schedule after the plateau at step 3k")
        return run.id

    run_id = await asyncio.to_thread(train)
    client = store(url)

    def finished() -> bool:
        rows = client.query(
            "SELECT status FROM runs WHERE run_id = {r:String}", parameters={"r": run_id}
        )
        return rows.result_rows == [("finished",)]

    def all_points() -> bool:
        rows = client.query(
            "SELECT count() FROM metric_points WHERE run_id = {r:String}", parameters={"r": run_id}
        )
        return rows.result_rows == [(2000,)]

    await eventually(finished, what="the run to be finished in ClickHouse")
    await eventually(all_points, what="all 2000 metric points in ClickHouse")
    run = client.query(
        "SELECT name, team, project, params, tags, metrics_count, metrics_last['loss'], metrics_min['loss'],"
        " metrics_last_step['acc'], git_commit != '' FROM runs WHERE run_id = {r:String}",
        parameters={"r": run_id},
    ).result_rows
    assert run == [
        (
            "baseline",
            TEAM,
            "churn",
            {"lr": "0.0003", "model.layers": "4", "batch_size": "64"},
            {"team": "risk", "stage": "tuning"},
            {"loss": 1000, "acc": 1000},
            1.0 / 1000,
            1.0 / 1000,
            999,
            True,
        )
    ]
    assert client.query(
        "SELECT count(DISTINCT key, step), count() FROM metric_points WHERE run_id = {r:String}",
        parameters={"r": run_id},
    ).result_rows == [(2000, 2000)]
    lineage = client.query(
        "SELECT relation, target_kind, target_name FROM lineage FINAL WHERE source_id = {r:String} ORDER BY relation",
        parameters={"r": run_id},
    ).result_rows
    assert lineage == [("produced", "artifact", "model.pt"), ("used", "dataset", "train")]
    packages = client.query(
        "SELECT count() FROM environment_packages WHERE run_id = {r:String} AND name = 'grpcio'",
        parameters={"r": run_id},
    ).result_rows
    assert packages == [(1,)]
