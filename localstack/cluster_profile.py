"""The parts of ``cairn up --profile cluster``: the single-node parts with Kafka, ingest and the
processors replicated.

- ``kafka-1`` .. ``kafka-3``: a three-node KRaft cluster (combined controller+broker) built by
  :mod:`localstack.kafka_cluster`, the same code as the cluster fault tests' fixture;
- ``clickhouse``: the one ClickHouse endpoint, as on the single profile;
- ``ingest-1``, ``ingest-2``: two ingest replicas (each also serves the query service); the SDK
  gets both as a comma list and spreads runs over them, failing over without loss;
- ``processors-1`` .. ``processors-3``: three workers in one consumer group, sharing the
  events topic's 12 partitions;
- every other single-node part (the portal) unchanged, after them.

Replica ``i`` listens on its part's base port + ``CLUSTER_PORT_STRIDE * i`` (settings.py).
Topics are created replicated (RF 3, ``min.insync.replicas`` 2, 12 events partitions) by
:func:`cluster_topics`, the same specs a deployment's provisioning step creates.
"""

from __future__ import annotations

from collections.abc import Sequence

from localstack import health, kafka_cluster
from localstack.settings import KAFKA_NODES, StackSettings
from localstack.stack import Part
from servicekit.topics import TopicSpec

EVENTS_PARTITIONS = 12
REPLICATED = ("kafka", "ingest", "processors")  # single-node parts the cluster replaces


def kafka_config(settings: StackSettings) -> kafka_cluster.ClusterConfig:
    return kafka_cluster.ClusterConfig.on_ports(
        settings.home / "kafka-cluster",
        settings.kafka_ports,
        settings.kafka_controller_ports,
        host=settings.host,
    )


def cluster_topics() -> tuple[TopicSpec, ...]:
    from localstack.provision import replicated_topics

    return replicated_topics(
        kafka_cluster.REPLICATION_FACTOR, kafka_cluster.MIN_INSYNC_REPLICAS, EVENTS_PARTITIONS
    )


def kafka_parts(settings: StackSettings) -> list[Part]:
    config = kafka_config(settings)

    def node_part(node: kafka_cluster.NodeConfig) -> Part:
        return Part(
            name=f"kafka-{node.node_id}",
            address=node.bootstrap,
            argv=lambda: kafka_cluster.prepare_node(config, node, settings.cache_dir),
            # One node listening is its own health; the cluster as a whole is waited for by
            # bootstrap (kafka_cluster.cluster_ready) once every node is up.
            healthy=lambda: kafka_cluster.node_ready(node),
            start_timeout=180,
        )

    assert len(config.nodes) == KAFKA_NODES
    return [node_part(node) for node in config.nodes]


def _ingest_part(i: int, address: str, metrics_port: int, template: Part) -> Part:
    return Part(
        name=f"ingest-{i + 1}",
        address=address,
        argv=template.argv,
        healthy=lambda: health.grpc_serving(address),
        env={
            **template.env,
            "CAIRN_INGEST_LISTEN": address,
            "CAIRN_INGEST_METRICS_PORT": str(metrics_port),
        },
    )


def _processors_part(settings: StackSettings, i: int, port: int, template: Part) -> Part:
    url = f"http://{settings.host}:{port}/health"
    return Part(
        name=f"processors-{i + 1}",
        address=url,
        argv=template.argv,
        healthy=lambda: health.http_ok(url),
        env={
            **template.env,
            "CAIRN_PROCESSORS_PORT": str(port),
            # One consumer group (the default CAIRN_PROCESSORS_GROUP); local state per worker.
            "CAIRN_PROCESSORS_DATA_DIR": str(settings.home / f"processors-{i + 1}"),
        },
    )


def cluster_parts(settings: StackSettings, single: Sequence[Part]) -> list[Part]:
    """The cluster profile's parts in start order, built from the single profile's ``single``."""
    by_name = {part.name: part for part in single}
    result = kafka_parts(settings)
    result.append(by_name["clickhouse"])
    result.extend(
        _ingest_part(i, address, metrics, by_name["ingest"])
        for i, (address, metrics) in enumerate(
            zip(settings.ingest_addresses, settings.ingest_metrics_ports, strict=True)
        )
    )
    result.extend(
        _processors_part(settings, i, port, by_name["processors"])
        for i, port in enumerate(settings.processors_ports)
    )
    result.extend(p for p in single if p.name not in (*REPLICATED, "clickhouse"))
    return result
