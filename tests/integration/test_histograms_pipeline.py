"""Histograms through the real write path: ``run.log_histogram`` → ingest → Kafka → processors →
ClickHouse, read back with ``query.histograms`` as a team member (and as an outsider), through
the reporting view, and again after ``cairn replay`` rebuilt every table from the log."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest

import cairn
from processors.replay import replay
from query.access import Caller
from query.histograms import HistogramSeries, histogram_keys, histograms
from query.rebuild import previous_name
from query.reporting_schema import reporting_database
from tests.pipeline import TEAM, Pipeline  # the fixture itself is registered by tests/conftest.py

pytestmark = pytest.mark.integration

OUTSIDER = Caller("mallory", frozenset({"some-other-team"}))
STEPS = 12
BINS = 16


def _weights(step: int) -> np.ndarray:  # type: ignore[type-arg]
    values = np.random.default_rng(step).normal(loc=step / 4, scale=1 + step / 10, size=(20, 10))
    if step == 3:
        values[0, :5] = np.nan  # left out of the histogram, not counted
    return values


def _wait_for_histograms(pipeline: Pipeline, run_id: str, rows: int) -> None:
    deadline = time.monotonic() + 60
    sql = "SELECT count() FROM histogram_steps WHERE run_id = {r:String}"
    while pipeline.rows(sql, r=run_id) != [(rows,)]:
        assert time.monotonic() < deadline, f"{rows} histograms of {run_id} not projected in 60 s"
        time.sleep(0.3)


def _train(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, project: str
) -> str:
    pipeline.configure(monkeypatch, tmp_path, project)
    with cairn.init(name="histograms") as run:
        for step in range(STEPS):
            run.log({"loss": 1.0 / (step + 1)}, step=step)
            run.log_histogram("fc/weights", _weights(step), bins=BINS)
        run.log_histogram("fc/grad", edges=[-1.0, 0.0, 1.0], counts=[3, 4], step=0)
        run.log_histogram("fc/grad", edges=[-1.0, 0.0, 1.0], counts=[5, 6], step=0)  # replaces
    (run_id,) = pipeline.wait_for_runs(project=project, count=1, status="finished")
    _wait_for_histograms(pipeline, run_id, STEPS + 1)
    return run_id


def test_logged_histograms_read_back_with_their_steps_bins_and_counts(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = _train(pipeline, monkeypatch, tmp_path, "histograms-read")
    client = pipeline.client()

    assert histogram_keys(client, pipeline.caller, run_id) == ("fc/grad", "fc/weights")
    weights = histograms(client, pipeline.caller, run_id, "fc/weights")
    assert weights.steps == tuple(range(STEPS))
    assert weights.total_steps == STEPS
    for histogram in weights.histograms:
        values = _weights(histogram.step)
        counts, edges = np.histogram(values[np.isfinite(values)], bins=BINS)
        assert histogram.edges == tuple(edges.tolist())
        assert histogram.counts == tuple(counts.astype(float).tolist())
        assert histogram.total == np.isfinite(values).sum()  # 200, and 195 at step 3
    grad = histograms(client, pipeline.caller, run_id, "fc/grad")
    assert [(h.step, h.counts) for h in grad.histograms] == [(0, (5.0, 6.0))]  # the re-log won

    sampled = histograms(client, pipeline.caller, run_id, "fc/weights", max_steps=4)
    assert (sampled.steps, sampled.total_steps) == ((0, 4, 7, 11), STEPS)

    assert histogram_keys(client, OUTSIDER, run_id) == ()
    assert histograms(client, OUTSIDER, run_id, "fc/weights") == HistogramSeries(
        run_id, "fc/weights", (), 0
    )

    reporting = reporting_database(client.database)
    assert pipeline.rows(
        f"SELECT team, project, count(), sum(arraySum(counts)) FROM `{reporting}`.histograms"
        " WHERE run_id = {r:String} GROUP BY team, project",
        r=run_id,
    ) == [(TEAM, "histograms-read", STEPS + 1, STEPS * 200 - 5 + 11)]
    assert pipeline.rows(
        f"SELECT count() FROM `{reporting}`.activity WHERE aggregate_id = {{r:String}}"
        " AND event_type = 'histograms'",
        r=run_id,
    ) == [(0,)]  # the run working, not people acting


def test_replay_rebuilds_the_histograms_from_the_log(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = _train(pipeline, monkeypatch, tmp_path, "histograms-replay")
    client = pipeline.client()
    before = [histograms(client, pipeline.caller, run_id, key) for key in ("fc/weights", "fc/grad")]

    pipeline.worker.stop()  # replay runs with the processors stopped, as documented
    try:
        result = asyncio.run(
            replay(
                pipeline.stack.bootstrap,
                (pipeline.stack.events_topic, pipeline.stack.identity_topic),
                pipeline.client,
                client.database,
            )
        )
    finally:
        pipeline.worker.start()
        client.command(f"DROP DATABASE IF EXISTS `{previous_name(client.database)}` SYNC")

    assert result.poison == 0
    after = [histograms(client, pipeline.caller, run_id, key) for key in ("fc/weights", "fc/grad")]
    assert after == before
    assert after[1].histograms[0].counts == (5.0, 6.0)
