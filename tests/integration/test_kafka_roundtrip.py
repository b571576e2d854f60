"""The real broker behaves as Cairn relies on: idempotent acks=all produce, group consume, commit."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from localstack import kafka_broker
from tests.integration.conftest_kafka import kafka_cache_dir

pytestmark = pytest.mark.integration


async def _create_topic(bootstrap: str, name: str, partitions: int = 3) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(name, partitions, 1, topic_configs={"retention.ms": "-1"})]
        )
    finally:
        await admin.close()


async def test_idempotent_produce_then_group_consume_keeps_per_key_order_and_commits(
    kafka_bootstrap: str, unique_topic: str
) -> None:
    await _create_topic(kafka_bootstrap, unique_topic)
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, enable_idempotence=True, acks="all"
    )
    await producer.start()
    try:
        for run in ("run-a", "run-b"):
            for i in range(50):
                await producer.send(unique_topic, f"{run}:{i}".encode(), key=run.encode())
        await producer.flush()
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        unique_topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"{unique_topic}.group",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    received: dict[str, list[int]] = {"run-a": [], "run-b": []}
    try:
        while sum(map(len, received.values())) < 100:
            batches = await consumer.getmany(timeout_ms=5000)
            assert batches, "no messages arrived within 5 s"
            for messages in batches.values():
                for message in messages:
                    assert message.value is not None
                    run, _, index = message.value.decode().partition(":")
                    received[run].append(int(index))
        await consumer.commit()
        committed = {
            tp: await consumer.committed(tp)
            for tp in (TopicPartition(unique_topic, p) for p in range(3))
        }
    finally:
        await consumer.stop()

    assert received == {"run-a": list(range(50)), "run-b": list(range(50))}
    assert sum(offset or 0 for offset in committed.values()) == 100


def test_storage_format_accepts_a_cluster_id_that_starts_with_a_dash(tmp_path: Path) -> None:
    """Regression: one generated id in 64 starts with '-', which ``-t ID`` read as an option."""
    config = kafka_broker.BrokerConfig(data_dir=tmp_path / "kafka", port=1, controller_port=2)
    config.data_dir.mkdir(parents=True)
    (config.data_dir / "cluster.id").write_text("-" + kafka_broker._kafka_uuid()[1:])
    kafka_broker.prepare(config, kafka_cache_dir())
    assert (config.data_dir / "log" / "meta.properties").exists()
