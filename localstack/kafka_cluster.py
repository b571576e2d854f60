"""A real three-node Apache Kafka cluster (KRaft, combined controller+broker nodes) on one machine.

The cluster profile (``cairn up --profile cluster``) and the cluster fault tests run it: the same
Maven Central jars as the single broker (:mod:`localstack.kafka_broker`), one JVM per node with
its own ports and data directory, one cluster id, a three-voter controller quorum. Internal
topics are replicated three times with ``min.insync.replicas=2``, so any one node can be killed
with every acknowledged write kept and writes still accepted.
"""

from __future__ import annotations

import asyncio
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from cairn_contract.errors import UnavailableError
from localstack import kafka_broker, processes

REPLICATION_FACTOR = 3
MIN_INSYNC_REPLICAS = 2


@dataclass(frozen=True)
class NodeConfig:
    node_id: int
    data_dir: Path
    port: int
    controller_port: int
    host: str = "127.0.0.1"
    heap: str = "384m"  # three JVMs share a machine with six other engineers' stacks

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class ClusterConfig:
    nodes: tuple[NodeConfig, ...]

    @classmethod
    def on_ports(
        cls, data_dir: Path, ports: list[int], controller_ports: list[int], host: str = "127.0.0.1"
    ) -> ClusterConfig:
        return cls(
            tuple(
                NodeConfig(i + 1, data_dir / f"node-{i + 1}", port, cport, host)
                for i, (port, cport) in enumerate(zip(ports, controller_ports, strict=True))
            )
        )

    @property
    def bootstrap(self) -> str:
        return ",".join(n.bootstrap for n in self.nodes)

    @property
    def voters(self) -> str:
        return ",".join(f"{n.node_id}@{n.host}:{n.controller_port}" for n in self.nodes)

    def node(self, node_id: int) -> NodeConfig:
        return next(n for n in self.nodes if n.node_id == node_id)


def server_properties(cluster: ClusterConfig, node: NodeConfig) -> str:
    rf, isr = REPLICATION_FACTOR, MIN_INSYNC_REPLICAS
    return "\n".join(
        [
            "process.roles=broker,controller",
            f"node.id={node.node_id}",
            f"controller.quorum.voters={cluster.voters}",
            f"listeners=PLAINTEXT://{node.host}:{node.port},CONTROLLER://{node.host}:{node.controller_port}",
            f"advertised.listeners=PLAINTEXT://{node.host}:{node.port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={node.data_dir / 'log'}",
            "auto.create.topics.enable=false",
            f"default.replication.factor={rf}",
            f"min.insync.replicas={isr}",
            "unclean.leader.election.enable=false",
            f"offsets.topic.replication.factor={rf}",
            "offsets.topic.num.partitions=3",
            f"transaction.state.log.replication.factor={rf}",
            f"transaction.state.log.min.isr={isr}",
            "transaction.state.log.num.partitions=3",
            f"share.coordinator.state.topic.replication.factor={rf}",
            f"share.coordinator.state.topic.min.isr={isr}",
            "group.initial.rebalance.delay.ms=0",
            "message.max.bytes=16777216",
            "replica.fetch.max.bytes=16777216",
            # A killed node's partitions move to a follower within seconds, not the 18 s default.
            "broker.session.timeout.ms=6000",
            "broker.heartbeat.interval.ms=1000",
            "replica.lag.time.max.ms=10000",
            "",
        ]
    )


def prepare_node(cluster: ClusterConfig, node: NodeConfig, cache_dir: Path) -> list[str]:
    """Fetch jars, write the node's config, format its storage once; return its argv."""
    libs = kafka_broker.ensure_jars(cache_dir)
    node.data_dir.mkdir(parents=True, exist_ok=True)
    props = node.data_dir / "server.properties"
    props.write_text(server_properties(cluster, node))
    log4j = f"-Dlog4j2.configurationFile={kafka_broker.DEPLOY_DIR / 'log4j2.yaml'}"
    if not (node.data_dir / "log" / "meta.properties").exists():
        id_file = node.data_dir.parent / "cluster.id"
        if not id_file.exists():
            id_file.write_text(kafka_broker.kafka_uuid())
        result = subprocess.run(
            [
                "java",
                "-cp",
                f"{libs}/*",
                log4j,
                "kafka.tools.StorageTool",
                "format",
                f"--cluster-id={id_file.read_text().strip()}",
                "-c",
                str(props),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise UnavailableError(
                f"formatting Kafka node {node.node_id} failed:\n{result.stdout}{result.stderr}"
            )
    return [
        "java",
        f"-Xmx{node.heap}",
        "-Xms128m",
        "-XX:+UseSerialGC",  # the smallest footprint; a test broker needs no pause tuning
        "-XX:TieredStopAtLevel=1",
        "-Djava.awt.headless=true",
        log4j,
        "-cp",
        f"{libs}/*",
        "kafka.Kafka",
        str(props),
    ]


async def _brokers_registered(bootstrap: str, expected: int) -> bool:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await admin.start()
        description = await admin.describe_cluster()
        return len(description.get("brokers", [])) >= expected
    except Exception:
        return False
    finally:
        await admin.close()


def node_ready(node: NodeConfig) -> bool:
    return processes.port_open(node.host, node.port)


def cluster_ready(cluster: ClusterConfig) -> bool:
    """Every node listens and the cluster metadata lists all of them as brokers."""
    if not all(node_ready(n) for n in cluster.nodes):
        return False
    return asyncio.run(_brokers_registered(cluster.bootstrap, len(cluster.nodes)))


@dataclass
class RunningCluster:
    """The node processes of a cluster started by :func:`start` (tests kill and restart them)."""

    config: ClusterConfig
    cache_dir: Path
    logs_dir: Path
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def bootstrap(self) -> str:
        return self.config.bootstrap

    def start_node(self, node_id: int) -> None:
        node = self.config.node(node_id)
        argv = prepare_node(self.config, node, self.cache_dir)
        log = self.logs_dir / f"kafka-{node_id}.log"
        self.processes[node_id] = processes.start_process(argv, log_path=log)

    def kill_node(self, node_id: int) -> None:
        """SIGKILL: no controlled shutdown, no leadership hand-over, no flush."""
        process = self.processes.pop(node_id)
        process.kill()
        process.wait(timeout=30)

    def wait_ready(self, timeout: float = 180) -> None:
        processes.wait_until(
            lambda: cluster_ready(self.config), what="the Kafka cluster", timeout=timeout
        )

    def stop(self) -> None:
        for node_id in list(self.processes):
            processes.stop_process(self.processes.pop(node_id), grace=20)


def start(config: ClusterConfig, *, cache_dir: Path, logs_dir: Path) -> RunningCluster:
    """Start every node and wait until all are brokers of one cluster."""
    running = RunningCluster(config, cache_dir, logs_dir)
    try:
        for node in config.nodes:
            running.start_node(node.node_id)
        running.wait_ready()
    except BaseException:
        running.stop()
        raise
    return running
