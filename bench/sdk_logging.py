"""``make bench-sdk``: what ``run.log`` costs the training thread, and how fast one process can log.

Three measurements, each with a 10-key dict of floats per call (``run.log(d)``, auto step):

1. **Per-call cost while training.** ``--bursts`` bursts of ``--burst`` calls, timed one burst at a
   time, with ``run.flush()`` between bursts standing in for the training step during which the
   background sender packs and spools what was logged. This is what a training loop pays per
   call; the median, 95th percentile and worst burst are printed.
2. **Sustained, logging only.** One thread calls ``run.log`` as fast as it can for
   ``--duration`` seconds (offline: packed and spooled to disk, not sent). Printed: calls/s and
   points/s accepted, the per-call cost in that loop (it includes the sender thread's share of
   the GIL), and points/s on disk counting the time until the last point was spooled.
3. **End to end.** With a Kafka broker and ``python -m ingest`` started here (as
   ``bench/ingest_throughput.py`` does), one process logs as fast as it can for ``--duration``
   seconds online and then calls ``finish()``, which returns once ingest acknowledged every event
   (and ingest acks only what Kafka acknowledged). Printed: points/s delivered from the first call
   to the last ack, and a cross-check of the points on the topic. ``--no-server`` skips it.
4. **Ingest unreachable.** Online, with the ingest address pointing at a closed port, a loop
   calls ``run.log`` every 2 ms for ``--duration`` seconds while the sender fails and retries.
   Printed: the slowest call and the 99.9th percentile, which show whether logging ever waits on
   the network (tests/sdk/integration/test_sdk_faults.py checks the behaviour, this the time).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import psutil
from aiokafka import AIOKafkaConsumer, TopicPartition

import cairn
from cairn.config import Capture, Mode, Settings
from cairn.run import Run
from cairn.v1 import events_pb2
from ingest.keys import issue_key_directly
from localstack import kafka_broker
from localstack.health import grpc_serving
from localstack.processes import free_port, start_process, stop_process, wait_until
from servicekit import topics

KEYS = 10
TEAM = "bench"


def _settings(directory: Path, **changes: object) -> Settings:
    base = Settings(
        team=TEAM,
        project="sdk",
        dir=directory,
        mode=Mode.OFFLINE,
        capture=Capture.nothing(),
        spool_max_bytes=1 << 40,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def _row() -> dict[str, float]:
    return {f"metric_{i}": 0.5 * i for i in range(KEYS)}


def per_call_cost(directory: Path, bursts: int, burst: int) -> list[float]:
    """Microseconds per call of each burst."""
    data = _row()
    costs = []
    with cairn.init(settings=_settings(directory)) as run:
        log = run.log
        for _ in range(bursts):
            started = time.perf_counter()
            for _ in range(burst):
                log(data)
            costs.append((time.perf_counter() - started) / burst * 1e6)
            run.flush()
    return costs


def tight_loop(run: Run, seconds: float) -> int:
    data = _row()
    log = run.log
    calls = 0
    until = time.perf_counter() + seconds
    while time.perf_counter() < until:
        for _ in range(1000):
            log(data)
        calls += 1000
    return calls


def sustained(directory: Path, seconds: float) -> tuple[int, float, float]:
    """(calls, seconds logging, seconds until the last point was on disk)."""
    with cairn.init(settings=_settings(directory)) as run:
        started = time.perf_counter()
        calls = tight_loop(run, seconds)
        logging = time.perf_counter() - started
        run.flush()
        spooled = time.perf_counter() - started
    return calls, logging, spooled


def unreachable(directory: Path, seconds: float) -> list[float]:
    """Seconds per ``run.log`` call, sorted, while ingest cannot be reached."""
    settings = _settings(
        directory,
        mode=Mode.ONLINE,
        ingest_url=f"127.0.0.1:{free_port()}",  # nothing listens there
        api_key="cairn_bench_unreachable",
        finish_timeout_s=1.0,
    )
    data = _row()
    times = []
    run = cairn.init(settings=settings)
    until = time.perf_counter() + seconds
    while time.perf_counter() < until:
        started = time.perf_counter()
        run.log(data)
        times.append(time.perf_counter() - started)
        time.sleep(0.002)
    run.finish()
    return sorted(times)


def end_to_end(workdir: Path, seconds: float) -> tuple[int, float, float, int]:
    """(calls, seconds logging, seconds until every event was acked, points found in Kafka)."""
    cache = Path(os.environ.get("CAIRN_CACHE_DIR", Path.home() / ".cache" / "cairn"))
    config = kafka_broker.BrokerConfig(
        data_dir=workdir / "kafka", port=free_port(), controller_port=free_port()
    )
    print(f"starting Kafka {kafka_broker.KAFKA_VERSION} and ingest ...", file=sys.stderr)
    broker = kafka_broker.start(config, cache_dir=cache, log_path=workdir / "kafka.log")
    try:
        asyncio.run(topics.ensure_topics(broker.bootstrap, [topics.EVENTS, topics.IDENTITY]))
        key = asyncio.run(issue_key_directly(broker.bootstrap, team=TEAM, role="writer"))
        address = f"127.0.0.1:{free_port()}"
        env = {
            **os.environ,
            "CAIRN_INGEST_LISTEN": address,
            "CAIRN_KAFKA_BOOTSTRAP": broker.bootstrap,
            "CAIRN_INGEST_METRICS_PORT": "-1",
            "CAIRN_LOG_LEVEL": "WARNING",
        }
        log_path = workdir / "ingest.log"
        ingest = start_process([sys.executable, "-m", "ingest"], env=env, log_path=log_path)
        try:
            wait_until(
                lambda: grpc_serving(address),
                what="ingest",
                timeout=60,
                process=ingest,
                log_path=log_path,
            )
            settings = _settings(
                workdir / "cairn",
                mode=Mode.ONLINE,
                ingest_url=address,
                api_key=key,
                finish_timeout_s=600.0,
            )
            run = cairn.init(settings=settings)
            started = time.perf_counter()
            calls = tight_loop(run, seconds)
            logging = time.perf_counter() - started
            run.finish()
            delivered = time.perf_counter() - started
            if run.spool_dir is not None and run.spool_dir.exists():
                raise RuntimeError("finish() returned with events still undelivered")
            points = asyncio.run(_points_in(broker.bootstrap, topics.EVENTS_TOPIC))
        finally:
            stop_process(ingest, grace=30)
    finally:
        broker.stop()
    return calls, logging, delivered, points


async def _points_in(bootstrap: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p) for p in await topics.partitions_of(bootstrap, topic)
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        points, seen = 0, set()
        while [tp for tp in partitions if await consumer.position(tp) < end[tp]]:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for record in records:
                    event = events_pb2.Event.FromString(record.value or b"")
                    if (
                        event.WhichOneof("payload") == "metrics"
                        and event.envelope.event_id not in seen
                    ):
                        seen.add(event.envelope.event_id)
                        points += sum(len(s.values) for s in event.metrics.series)
        return points
    finally:
        await consumer.stop()


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.sdk_logging", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--bursts", type=int, default=50, help="bursts for the per-call cost")
    parser.add_argument("--burst", type=int, default=2000, help="calls per burst")
    parser.add_argument(
        "--duration", type=float, default=10.0, help="seconds of logging as fast as possible"
    )
    parser.add_argument("--no-server", action="store_true", help="skip the end-to-end measurement")
    return parser.parse_args(argv)


def _line(label: str, value: str) -> str:
    return f"  {label:<26} {value}"


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    machine = (
        f"{os.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.1f} GiB RAM, "
        f"Python {sys.version.split()[0]}, load average {os.getloadavg()[0]:.1f}"
    )
    with tempfile.TemporaryDirectory(prefix="cairn-bench-sdk-") as tmp:
        workdir = Path(tmp)
        print("measuring the per-call cost ...", file=sys.stderr)
        costs = sorted(per_call_cost(workdir / "calls", args.bursts, args.burst))
        print(f"logging as fast as possible for {args.duration:.0f} s ...", file=sys.stderr)
        calls, logging, spooled = sustained(workdir / "sustained", args.duration)
        e2e = None if args.no_server else end_to_end(workdir, args.duration)
        print(f"logging for {args.duration:.0f} s with ingest unreachable ...", file=sys.stderr)
        offline = unreachable(workdir / "unreachable", args.duration)
    points = calls * KEYS
    lines = [
        f"Cairn SDK logging ({KEYS}-key dict of floats per run.log call)",
        f"  machine                    {machine}",
        _line(
            "per-call cost",
            f"median {statistics.median(costs):.2f} us, p95 {costs[int(len(costs) * 0.95)]:.2f} us, "
            f"worst {costs[-1]:.2f} us "
            f"({args.bursts} bursts x {args.burst:,} calls, flush between bursts)",
        ),
        _line(
            "logging only, one thread",
            f"{calls / logging:,.0f} calls/s = {points / logging:,.0f} points/s accepted "
            f"({logging / calls * 1e6:.2f} us per call incl. the sender's share)",
        ),
        _line(
            "  ... on disk", f"{points / spooled:,.0f} points/s (until the last point was spooled)"
        ),
    ]
    lines.append(
        _line(
            "ingest unreachable",
            f"slowest run.log {offline[-1] * 1e3:.2f} ms, p99.9 "
            f"{offline[int(len(offline) * 0.999)] * 1e3:.3f} ms ({len(offline):,} calls, 2 ms apart)",
        )
    )
    if e2e is not None:
        e2e_calls, e2e_logging, delivered, in_kafka = e2e
        e2e_points = e2e_calls * KEYS
        lines += [
            _line(
                "end to end, one process",
                f"{e2e_points / delivered:,.0f} points/s delivered into Kafka "
                f"({e2e_points:,} points: {e2e_logging:.1f} s logging + "
                f"{delivered - e2e_logging:.1f} s until the last ack)",
            ),
            _line("  ... cross-check", f"{in_kafka:,} distinct points on the events topic"),
        ]
    print("\n".join(lines))
    return 0 if e2e is None or e2e[3] == e2e[0] * KEYS else 1


if __name__ == "__main__":
    sys.exit(main())
