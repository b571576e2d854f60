"""``make bench-ingest``: sustained metric points/s through ingest into a real Kafka broker.

Starts a single-node Kafka broker (``localstack.kafka_broker``) and ``python -m ingest`` as
separate processes in a temporary directory, issues a writer key, then drives ingest over
loopback with ``--streams`` concurrent Publish streams, each keeping up to ``--window`` batches
in flight. Every batch is one metrics event of ``--series`` series totalling ``--points`` points.
After ``--warmup`` seconds it measures for ``--duration`` seconds and prints:

- accepted points/s (counted from acks, which ingest sends only after Kafka acknowledged);
- p50/p99 batch latency as the client sees it: from writing a batch to receiving its ack;
- the ingest process's peak and final RSS;
- a cross-check that the events topic holds exactly as many records as acks reported.

The client sends pre-serialized batches: each batch's bytes are a fresh envelope (new UUIDv7,
next sequence) concatenated with one of a few pre-encoded metric payloads (protobuf messages
may be concatenated field by field), so the client spends its CPU on gRPC, not on encoding.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import numpy as np
import psutil
from aiokafka import AIOKafkaConsumer, TopicPartition

from cairn.v1 import envelope_pb2, events_pb2, ingest_pb2, metrics_pb2
from cairn_contract.envelopes import new_envelope
from ingest.keys import issue_key_directly
from localstack import kafka_broker
from localstack.health import grpc_serving
from localstack.processes import free_port, start_process, stop_process, wait_until
from servicekit import topics

TEAM = "bench"
PAYLOADS_PER_STREAM = 8


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


@dataclass
class StreamSource:
    """Batches for one stream: one run, a rotating set of encoded metric payloads."""

    run_id: str
    payloads: list[bytes]
    sequence: int = 0

    @classmethod
    def build(cls, index: int, *, points: int, series: int, now_ns: int) -> StreamSource:
        rng = np.random.default_rng(index)
        per_series = points // series
        metrics_field = events_pb2.Event.DESCRIPTOR.fields_by_name["metrics"].number
        payloads = []
        for p in range(PAYLOADS_PER_STREAM):
            batch = metrics_pb2.MetricBatch()
            for s in range(series):
                first = p * per_series
                batch.series.add(
                    key=f"train/metric_{s}",
                    steps=range(first, first + per_series),
                    values=rng.standard_normal(per_series).tolist(),
                    timestamps_ns=(now_ns + np.arange(per_series) * 1_000_000).tolist(),
                )
            payloads.append(_field(metrics_field, batch.SerializeToString()))
        return cls(f"bench-run-{index}", payloads)

    def next_batch(self) -> bytes:
        self.sequence += 1
        now = time.time_ns()
        envelope = new_envelope(
            envelope_pb2.AGGREGATE_KIND_RUN,
            self.run_id,
            team=TEAM,
            project="bench",
            sequence=self.sequence,
            occurred_at_ns=now,
        ).SerializeToString()
        event = _field(1, envelope) + self.payloads[self.sequence % len(self.payloads)]
        return _field(1, event) + _varint(2 << 3) + _varint(self.sequence)  # events, batch_id


@dataclass
class Tally:
    measuring: bool = False
    points: int = 0
    batches: int = 0
    acked_events: int = 0
    rejected: int = 0
    latencies: list[float] = field(default_factory=list)


async def _drive_stream(
    address: str,
    key: str,
    source: StreamSource,
    window: int,
    points: int,
    tally: Tally,
    stop: asyncio.Event,
) -> None:
    async with grpc.aio.insecure_channel(
        address, options=[("grpc.use_local_subchannel_pool", 1)]
    ) as channel:
        publish: grpc.aio.StreamStreamMultiCallable[bytes, ingest_pb2.Ack] = channel.stream_stream(
            "/cairn.v1.Ingest/Publish",
            request_serializer=None,
            response_deserializer=ingest_pb2.Ack.FromString,
        )
        call = publish(metadata=(("authorization", f"Bearer {key}"),))
        room = asyncio.Semaphore(window)
        sent: list[float] = []

        async def read_acks() -> None:
            read = 0
            while (ack := await call.read()) is not grpc.aio.EOF:
                assert isinstance(ack, ingest_pb2.Ack)
                latency = time.perf_counter() - sent[read]
                read += 1
                room.release()
                tally.acked_events += ack.accepted_events
                if ack.HasField("rejection"):
                    tally.rejected += 1
                    print(f"rejected: {ack.rejection.message}", file=sys.stderr)
                elif tally.measuring:
                    tally.points += points
                    tally.batches += 1
                    tally.latencies.append(latency)

        reader = asyncio.create_task(read_acks())
        while not stop.is_set():
            await room.acquire()
            data = source.next_batch()
            sent.append(time.perf_counter())
            await call.write(data)
        await call.done_writing()
        await reader


class RssSampler(threading.Thread):
    """Samples ingest's resident memory; also reads its CPU time (user + system) on demand, so
    points per ingest CPU second (the per-core sizing figure of docs/deploy.md) can be given."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.peak = 0
        self.last = 0
        self.cpu_measured = 0.0  # ingest's CPU seconds during the measured window
        self.done = threading.Event()

    def cpu_seconds(self) -> float:
        times = self.process.cpu_times()
        return float(times.user + times.system)

    def run(self) -> None:
        while not self.done.wait(0.2):
            try:
                self.last = self.process.memory_info().rss
            except psutil.Error:
                return
            self.peak = max(self.peak, self.last)


async def _run_load(
    address: str, key: str, args: argparse.Namespace, sampler: RssSampler
) -> tuple[Tally, float]:
    now = time.time_ns()
    sources = [
        StreamSource.build(i, points=args.points, series=args.series, now_ns=now)
        for i in range(args.streams)
    ]
    tally = Tally()
    stop = asyncio.Event()
    streams = [
        asyncio.create_task(_drive_stream(address, key, s, args.window, args.points, tally, stop))
        for s in sources
    ]
    await asyncio.sleep(args.warmup)
    tally.measuring = True
    started = time.perf_counter()
    cpu_before = sampler.cpu_seconds()
    await asyncio.sleep(args.duration)
    tally.measuring = False
    elapsed = time.perf_counter() - started
    sampler.cpu_measured = sampler.cpu_seconds() - cpu_before
    stop.set()
    await asyncio.gather(*streams)
    return tally, elapsed


async def _count_records(bootstrap: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p) for p in await topics.partitions_of(bootstrap, topic)
        ]
        start = await consumer.beginning_offsets(partitions)
        end = await consumer.end_offsets(partitions)
        return sum(end[tp] - start[tp] for tp in partitions)
    finally:
        await consumer.stop()


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ingest_throughput", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--streams", type=int, default=4, help="concurrent Publish streams")
    parser.add_argument("--window", type=int, default=4, help="batches in flight per stream")
    parser.add_argument("--points", type=int, default=1000, help="metric points per batch")
    parser.add_argument("--series", type=int, default=1, help="series the points are spread over")
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before measuring")
    parser.add_argument(
        "--compression",
        default="none",
        help="producer compression: none, gzip (lz4/zstd need cramjam)",
    )
    parser.add_argument("--linger-ms", type=int, default=2)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    cache = Path(os.environ.get("CAIRN_CACHE_DIR", Path.home() / ".cache" / "cairn"))
    with tempfile.TemporaryDirectory(prefix="cairn-bench-") as tmp:
        workdir = Path(tmp)
        config = kafka_broker.BrokerConfig(
            data_dir=workdir / "kafka", port=free_port(), controller_port=free_port()
        )
        print(
            f"starting Kafka {kafka_broker.KAFKA_VERSION} on {config.bootstrap} ...",
            file=sys.stderr,
        )
        broker = kafka_broker.start(config, cache_dir=cache, log_path=workdir / "kafka.log")
        try:
            asyncio.run(topics.ensure_topics(broker.bootstrap, [topics.EVENTS, topics.IDENTITY]))
            key = asyncio.run(
                issue_key_directly(broker.bootstrap, team=TEAM, role="writer", name="bench")
            )
            address = f"127.0.0.1:{free_port()}"
            env = {
                **os.environ,
                "CAIRN_INGEST_LISTEN": address,
                "CAIRN_KAFKA_BOOTSTRAP": broker.bootstrap,
                "CAIRN_INGEST_METRICS_PORT": "-1",
                "CAIRN_KAFKA_COMPRESSION": args.compression,
                "CAIRN_KAFKA_LINGER_MS": str(args.linger_ms),
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
                sampler = RssSampler(ingest.pid)
                sampler.start()
                tally, elapsed = asyncio.run(_run_load(address, key, args, sampler))
                sampler.done.set()
                records = asyncio.run(_count_records(broker.bootstrap, topics.EVENTS_TOPIC))
            finally:
                stop_process(ingest, grace=30)
        finally:
            broker.stop()
    _report(args, tally, elapsed, sampler, records)
    return 0 if tally.rejected == 0 and records == tally.acked_events else 1


def _report(
    args: argparse.Namespace, tally: Tally, elapsed: float, rss: RssSampler, records: int
) -> None:
    latencies = sorted(tally.latencies) or [float("nan")]
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    mib = 1024 * 1024
    machine = (
        f"{os.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.1f} GiB RAM, "
        f"Python {sys.version.split()[0]}"
    )
    rate = f"{tally.points / elapsed:,.0f} points/s ({tally.batches / elapsed:,.0f} batches/s)"
    lines = [
        "Cairn ingest throughput (loopback gRPC -> ingest -> Kafka, acks=all)",
        f"  machine      {machine}",
        f"  load         {args.streams} streams x {args.window} batches in flight; "
        f"batch = 1 event, {args.series} series, {args.points} points",
        f"  measured     {elapsed:.1f} s after {args.warmup:.0f} s warm-up; "
        f"compression {args.compression}, linger {args.linger_ms} ms",
        f"  accepted     {rate}",
        f"  latency      p50 {p50:.1f} ms, p99 {p99:.1f} ms (write -> Kafka-backed ack)",
        f"  ingest RSS   peak {rss.peak / mib:.0f} MiB, end {rss.last / mib:.0f} MiB",
        f"  ingest CPU   {rss.cpu_measured:.1f} s in the measured window: "
        f"{tally.points / max(rss.cpu_measured, 1e-9):,.0f} points per ingest CPU second",
        f"  machine load {', '.join(f'{x:.1f}' for x in os.getloadavg())} (1/5/15 min, at the end)",
        f"  kafka        {records} records in {topics.EVENTS_TOPIC}; "
        f"{tally.acked_events} events acknowledged; {tally.rejected} batches rejected",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
