"""Fault tests on the cluster profile, with exact counts in ClickHouse: a training loop logs
while a Kafka partition leader, a processors worker, or each ingest replica in turn is killed or
restarted; afterwards every point is in the store exactly once (after ``FINAL``), none lost.

The load is scaled down to fit `make test` on 2 shared cores: one run, 2 keys, 150 steps/s for
about 12 s (3,600 points). Each test prints the longest stall of the training loop (one
``run.log`` call) and the worst freshness (how long the oldest not-yet-visible point had been
logged), which docs/deploy.md reports.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import cairn
from tests.cluster.harness import Cluster, projection_snapshot

pytestmark = pytest.mark.integration

STEPS = 1800
RATE = 150.0  # steps per second
KEYS = ("loss", "acc")


@dataclass
class Outcome:
    run_id: str
    longest_log_s: float
    worst_freshness_s: float
    catch_up_s: float
    raw_rows: int
    notes: list[str] = field(default_factory=list)


def train_through(
    cluster: Cluster,
    directory: Path,
    fault: Callable[[], None],
    recover: Callable[[], None],
) -> Outcome:
    """Log STEPS steps at RATE; call ``fault`` a quarter in and ``recover`` halfway."""
    logged_at: list[float] = []
    worst_fresh = 0.0
    stop = threading.Event()
    run_box: list[str] = []

    def sample() -> None:
        nonlocal worst_fresh
        while not stop.is_set():
            if run_box and logged_at:
                row = (
                    cluster.client()
                    .query(
                        "SELECT max(step) + 1 FROM metrics WHERE run_id = {r:String} AND key = 'loss'",
                        parameters={"r": run_box[0]},
                    )
                    .result_rows[0]
                )
                visible = int(row[0] or 0)
                if visible < len(logged_at):
                    worst_fresh = max(worst_fresh, time.monotonic() - logged_at[visible])
            stop.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    longest = 0.0
    try:
        with cairn.init(name="fault", settings=cluster.settings(directory)) as run:
            run_box.append(run.id)
            start = time.monotonic()
            for step in range(STEPS):
                if step == STEPS // 4:
                    fault()
                if step == STEPS // 2:
                    recover()
                t0 = time.monotonic()
                run.log({k: float(step) for k in KEYS}, step=step)
                longest = max(longest, time.monotonic() - t0)
                logged_at.append(t0)
                pause = start + (step + 1) / RATE - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
            finished = time.monotonic()
        catch_up = cluster.wait_points(run_box[0], STEPS * len(KEYS))
        catch_up += time.monotonic() - finished
    finally:
        stop.set()
        sampler.join()
    final, raw, distinct = cluster.points(run_box[0])
    assert (final, distinct) == (STEPS * len(KEYS), STEPS * len(KEYS))  # none lost, none twice
    return Outcome(run_box[0], longest, worst_fresh, catch_up, raw)


def report(name: str, outcome: Outcome) -> None:
    print(
        f"\n[cluster fault] {name}: {STEPS * len(KEYS)} points, 0 lost, 0 duplicated after FINAL"
        f" ({outcome.raw_rows} raw rows); longest run.log {outcome.longest_log_s * 1000:.1f} ms;"
        f" worst freshness {outcome.worst_freshness_s:.1f} s"
    )


class Background:
    """Restarts run off the training thread (they wait for health); joined before counting."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []
        self.errors: list[BaseException] = []

    def __call__(self, action: Callable[[], None]) -> Callable[[], None]:
        def guarded() -> None:
            try:
                action()
            except BaseException as exc:
                self.errors.append(exc)

        def go() -> None:
            thread = threading.Thread(target=guarded, daemon=True)
            thread.start()
            self.threads.append(thread)

        return go

    def join(self) -> None:
        for thread in self.threads:
            thread.join(timeout=180)
        assert self.errors == []


def test_sigkill_the_partition_leader_broker_under_load(cluster: Cluster, tmp_path: Path) -> None:
    victim: list[int] = []

    def kill_leader() -> None:
        victim.append(cluster.partition_leader(0))
        cluster.kafka.kill_node(victim[0])

    def restart() -> None:
        cluster.kafka.start_node(victim[0])

    background = Background()
    outcome = train_through(cluster, tmp_path, kill_leader, background(restart))
    background.join()
    cluster.kafka.wait_ready()
    assert cluster.partition_leader(0) in {1, 2, 3}
    report(f"SIGKILL Kafka node {victim[0]} (leader of partition 0), restarted", outcome)


def test_sigkill_one_of_three_processors_workers(cluster: Cluster, tmp_path: Path) -> None:
    victim = cluster.workers[1]
    background = Background()
    outcome = train_through(cluster, tmp_path, victim.kill, background(victim.start))
    background.join()
    report("SIGKILL processors worker 2 of 3, restarted (rebalance twice)", outcome)


def test_rolling_restart_of_both_ingest_replicas(cluster: Cluster, tmp_path: Path) -> None:
    """One replica at a time, the next only once the previous serves again (as a Deployment's
    rolling update with maxUnavailable 0 does)."""

    def rolling_restart() -> None:
        for replica in cluster.ingest:
            replica.stop()
            replica.start()

    background = Background()
    outcome = train_through(cluster, tmp_path, background(rolling_restart), lambda: None)
    background.join()
    report("rolling restart of ingest replica 1 then 2 (SIGTERM, drain, start)", outcome)


def _snapshot(cluster: Cluster) -> dict[str, str]:
    return projection_snapshot(cluster.client(), cluster.url.rsplit("/", 1)[1])


def test_replay_rebuilds_every_projection_identically(cluster: Cluster) -> None:
    """After the faults above: stop the workers, rebuild every table from the three-node Kafka
    cluster with ``cairn replay``'s function, and compare table by table."""
    from processors.replay import replay
    from tests.integration.processors_harness import store

    for worker in cluster.workers:
        worker.stop()
    before = _snapshot(cluster)
    assert int(before["metrics"].split()[0]) >= STEPS * len(KEYS)
    database = cluster.url.rsplit("/", 1)[1]
    result = asyncio.run(
        replay(
            cluster.kafka.bootstrap,
            (cluster.names.events, cluster.names.identity),
            lambda: store(cluster.url),
            database,
        )
    )
    after = _snapshot(cluster)
    assert after == before
    print(
        f"\n[cluster replay] {result.events} events, {result.points} points rebuilt in"
        f" {result.seconds:.1f} s ({result.points / result.seconds:,.0f} points/s);"
        f" {len(before)} tables and views identical"
    )
