"""Exactly-once summaries, on the real broker and engine: two processors workers in one consumer
group project six runs' metric events while events are resent (the same event ids again, as an SDK
does after a lost ack) and one worker is killed mid-batch (SIGKILL under load: its last write may
be in the store with its offsets uncommitted, so that batch is delivered again) and restarted.

Afterwards every figure a user reads is exact: the points (each step once, its latest value), the
per-series summaries (count of distinct steps, min, max, last value and step, the runs table's
counts) and the rollup partials the processors compute for downsampled charts (each block's lowest,
highest and last point; docs/schema.md).
"""

from __future__ import annotations

import asyncio
import math
import urllib.request
from collections import defaultdict

import pytest

from cairn.v1 import events_pb2, metrics_pb2, runs_pb2
from domain.metric_rollups import BLOCK
from tests.builders import event
from tests.integration.processors_harness import Setup, eventually, produce, store

pytestmark = pytest.mark.integration

RUNS = [f"run-once-{i}" for i in range(6)]
RELOGGED = set(RUNS[:3])  # these runs log steps 0..99 of "loss" again, with new values
BATCHES, POINTS = 40, 1_000  # per run: 40 events of "loss" (1,000 points) and "acc" (10 points)
RELOG_STEPS = 100


def _loss(run: int, step: int) -> float:
    return math.sin(step / 37.0 + run) * 10 + run


def _relog(run: int, step: int) -> float:
    return 1_000.0 + run + step  # beyond every first value: visible in max and in the points


def _events(index: int, run_id: str) -> list[events_pb2.Event]:
    out = [event("run_created", runs_pb2.RunCreated(name=run_id), run_id=run_id, sequence=1)]
    for b in range(BATCHES):
        steps = list(range(b * POINTS, (b + 1) * POINTS))
        acc_steps = steps[:: POINTS // 10]
        series = [
            metrics_pb2.MetricSeries(
                key="loss", steps=steps, values=[_loss(index, s) for s in steps]
            ),
            metrics_pb2.MetricSeries(
                key="acc", steps=acc_steps, values=[s / 1e6 for s in acc_steps]
            ),
        ]
        batch = metrics_pb2.MetricBatch(series=series)
        out.append(event("metrics", batch, run_id=run_id, sequence=b + 2))
    if run_id in RELOGGED:
        steps = list(range(RELOG_STEPS))
        relog = metrics_pb2.MetricSeries(
            key="loss", steps=steps, values=[_relog(index, s) for s in steps]
        )
        batch = metrics_pb2.MetricBatch(series=[relog])
        out.append(event("metrics", batch, run_id=run_id, sequence=BATCHES + 2))
    return out


def _expected_points(index: int, run_id: str) -> dict[str, dict[int, float]]:
    loss = {s: _loss(index, s) for s in range(BATCHES * POINTS)}
    if run_id in RELOGGED:
        loss.update({s: _relog(index, s) for s in range(RELOG_STEPS)})
    acc = {s: s / 1e6 for s in range(0, BATCHES * POINTS, POINTS // 10)}
    return {"loss": loss, "acc": acc}


def _processed(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    return sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("cairn_processor_events_total ")
    )


async def test_two_workers_a_kill_mid_batch_and_resent_events_leave_exact_summaries(
    setup: Setup,
) -> None:
    per_run = {run_id: _events(i, run_id) for i, run_id in enumerate(RUNS)}
    every = [e for events in per_run.values() for e in events]
    total_points = len(RUNS) * BATCHES * (POINTS + 10)
    group = f"once-{setup.database}"
    first, second = setup.worker(group=group), setup.worker(group=group)
    for worker in (first, second):  # small batches: the kill lands between many writes
        worker.env["CAIRN_FLUSH_MAX_EVENTS"] = "4"
    await asyncio.gather(asyncio.to_thread(first.start), asyncio.to_thread(second.start))
    restarted = None
    try:
        await produce(setup.bootstrap, setup.topics.events, every)
        await eventually(
            lambda: _processed(first.port) > 0 and _processed(second.port) > 0,
            what="both workers projecting",
        )
        first.kill()  # mid-stream: both workers are writing batches of 200 events
        written = store(setup.url).query("SELECT count() FROM metric_points").result_rows[0][0]
        assert written < total_points, "the kill came too late to prove anything"
        # Resent events: every fifth event of every run again, with the same ids.
        await produce(setup.bootstrap, setup.topics.events, every[::5])
        restarted = setup.worker(group=group)
        restarted.env["CAIRN_FLUSH_MAX_EVENTS"] = "4"
        await asyncio.to_thread(restarted.start)
        await eventually(
            lambda: (
                store(setup.url).query("SELECT count() FROM metric_points").result_rows[0][0]
                == total_points
            ),  # re-logged steps replace points, they add none
            timeout=180,
            what="every point",
        )
        await eventually(
            lambda: (
                store(setup.url).query("SELECT count() FROM events FINAL").result_rows[0][0]
                == len(every)
            ),
            what="every event archived once",
        )
    finally:
        for worker in (first, second, restarted):
            if worker is not None:
                worker.stop()

    client = store(setup.url)
    points: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    for run_id, key, step, value in client.query(
        "SELECT run_id, toString(key), step, value FROM metric_points"
    ).result_rows:
        assert step not in points[(run_id, key)], f"{run_id} {key} step {step} twice"
        points[(run_id, key)][step] = value
    summaries = {
        (r[0], r[1]): r[2:]
        for r in client.query(
            "SELECT run_id, toString(key), count, min, max, last, last_step FROM metric_summary"
        ).result_rows
    }
    counts = {
        r[0]: (r[1], r[2])
        for r in client.query(
            "SELECT run_id, metrics_count['loss'], metrics_count['acc'] FROM runs"
        ).result_rows
    }
    for index, run_id in enumerate(RUNS):
        expected = _expected_points(index, run_id)
        for key, want in expected.items():
            assert points[(run_id, key)] == want, f"{run_id} {key}: each step once, latest value"
            ever = list(want.values())
            if key == "loss" and run_id in RELOGGED:  # min and max remember replaced values
                ever += [_loss(index, s) for s in range(RELOG_STEPS)]
            last_step = max(want)
            assert summaries[(run_id, key)] == (
                len(want),
                min(ever),
                max(ever),
                want[last_step],
                last_step,
            ), f"{run_id} {key} summary"
        assert counts[run_id] == (len(expected["loss"]), len(expected["acc"]))

    # The rollup partials, merged, give each block its lowest, highest and last point exactly;
    # re-logged runs' charts read the points instead (metric_bounds: rows > steps), and so would
    # a series whose partials a redelivery counted twice.
    low_high = client.query(
        "SELECT run_id, toString(key), block, min(low), max(high) FROM metric_rollup"
        " GROUP BY run_id, key, block"
    ).result_rows
    ends = {
        (r[0], r[1], r[2]): r[3:]
        for r in client.query(
            "SELECT run_id, toString(key), block, max(last), sum(points) FROM metric_rollup_ends"
            " GROUP BY run_id, key, block"
        ).result_rows
    }
    checked = 0
    for run_id, key, block, low, high in low_high:
        if run_id in RELOGGED:
            continue
        in_block = {s: v for s, v in points[(run_id, key)].items() if s // BLOCK == block}
        assert low[:2] == min((v, s) for s, v in in_block.items()), (run_id, key, block)
        assert high[:2] == max((v, s) for s, v in in_block.items()), (run_id, key, block)
        last_step = max(in_block)
        last, count = ends[(run_id, key, block)]
        assert (last[0], last[2]) == (last_step, in_block[last_step])
        assert count >= len(in_block)  # a redelivered partial counts again (never read then)
        checked += 1
    assert checked == (len(RUNS) - len(RELOGGED)) * (
        len({s // BLOCK for s in range(BATCHES * POINTS)})
        + len({s // BLOCK for s in range(0, BATCHES * POINTS, POINTS // 10)})
    )
