"""A real single-node Apache Kafka broker (KRaft mode) for the local stack and the tests.

The jars come from Maven Central through ``mvn dependency:copy-dependencies`` on the pinned pom in
``deploy/local/kafka/`` and are cached per version under the cache directory, so only the first
start downloads anything. The broker's storage is formatted once; later starts reuse it, which is
what lets the event log (Cairn's source of truth) survive ``make down``/``make up``.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from cairn_contract.errors import UnavailableError
from localstack import processes

KAFKA_VERSION = "4.1.1"
_DEPLOY_DIR = Path(__file__).resolve().parents[1] / "deploy" / "local" / "kafka"


@dataclass(frozen=True)
class BrokerConfig:
    """Where one broker keeps its data and listens. ``data_dir`` holds storage, config and ids."""

    data_dir: Path
    port: int = 9092
    controller_port: int = 9093
    host: str = "127.0.0.1"
    heap: str = "192m"  # with jvm_options' limits: ~300 MB RSS under `make bench-footprint`

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"


def ensure_jars(cache_dir: Path) -> Path:
    """Return the directory of the broker's jars, fetching them with ``mvn`` the first time."""
    libs = cache_dir / f"kafka-{KAFKA_VERSION}" / "libs"
    marker = libs / ".complete"
    if marker.exists():
        return libs
    if shutil.which("mvn") is None:
        raise UnavailableError("Maven (mvn) is needed to fetch the Kafka broker's jars")
    libs.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="libs-", dir=libs.parent))
    result = subprocess.run(
        [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(_DEPLOY_DIR / "pom.xml"),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={staging}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise UnavailableError(
            "could not fetch Kafka jars from Maven Central:\n"
            + (result.stdout + result.stderr)[-4000:]
        )
    (staging / ".complete").write_text(KAFKA_VERSION)
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)
    return libs


def _server_properties(config: BrokerConfig) -> str:
    log_dir = config.data_dir / "log"
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@{config.host}:{config.controller_port}",
            f"listeners=PLAINTEXT://{config.host}:{config.port},CONTROLLER://{config.host}:{config.controller_port}",
            f"advertised.listeners=PLAINTEXT://{config.host}:{config.port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={log_dir}",
            # Topics are created explicitly, with their configs (servicekit/topics.py).
            "auto.create.topics.enable=false",
            "num.partitions=3",
            # One node: internal topics have one replica; few partitions keep start-up quick.
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=3",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "transaction.state.log.num.partitions=3",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "message.max.bytes=16777216",
            "replica.fetch.max.bytes=16777216",
            # The log cleaner's key map (compacted topics) takes 128 MiB of heap by default, for
            # as long as the broker runs; a local stack's compacted topics hold few keys.
            "log.cleaner.dedupe.buffer.size=16777216",
            "",
        ]
    )


def prepare(config: BrokerConfig, cache_dir: Path) -> list[str]:
    """Fetch jars, write the config, format storage once; return the broker's argv."""
    libs = ensure_jars(cache_dir)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    props = config.data_dir / "server.properties"
    props.write_text(_server_properties(config))
    classpath = f"{libs}/*"
    if not (config.data_dir / "log" / "meta.properties").exists():
        cluster_id_file = config.data_dir / "cluster.id"
        if not cluster_id_file.exists():
            cluster_id_file.write_text(_kafka_uuid())
        result = subprocess.run(
            [
                "java",
                "-cp",
                classpath,
                f"-Dlog4j2.configurationFile={_DEPLOY_DIR / 'log4j2.yaml'}",
                "kafka.tools.StorageTool",
                "format",
                # '=' form: a base64 id may start with '-' and must not be read as an option.
                f"--cluster-id={cluster_id_file.read_text().strip()}",
                "-c",
                str(props),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise UnavailableError(
                f"formatting Kafka storage failed:\n{result.stdout}{result.stderr}"
            )
    return [
        "java",
        *jvm_options(config.heap),
        f"-Dlog4j2.configurationFile={_DEPLOY_DIR / 'log4j2.yaml'}",
        "-cp",
        classpath,
        "kafka.Kafka",
        str(props),
    ]


def jvm_options(heap: str) -> list[str]:
    """The broker JVM's memory limits: a local broker's RSS is its heap plus what the JVM keeps
    beside it, so each of those is bounded too (docs/benchmarks.md, "Stack footprint").

    The serial collector has no remembered sets or concurrent threads (G1's cost ~10 % of the
    heap); the heap starts small and grows only under load. Socket I/O on heap buffers goes
    through per-thread temporary direct buffers as large as the largest message (16 MiB here);
    ``jdk.nio.maxCachedBufferSize`` stops those from being kept after use.
    """
    return [
        f"-Xmx{heap}",
        "-Xms32m",
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",  # C1 only: no C2 compiler arenas, a smaller code cache
        "-XX:MaxMetaspaceSize=128m",
        "-XX:ReservedCodeCacheSize=64m",
        "-XX:MaxDirectMemorySize=128m",
        "-Djdk.nio.maxCachedBufferSize=1048576",
        "-Xss512k",
        "-Djava.awt.headless=true",
    ]


def _kafka_uuid() -> str:
    """A cluster id in Kafka's format: 16 random bytes, URL-safe base64 without padding."""
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


async def _cluster_ready(bootstrap: str) -> bool:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await admin.start()
        await admin.list_topics()
        return True
    except Exception:
        return False
    finally:
        await admin.close()


def is_ready(config: BrokerConfig) -> bool:
    """True once the broker listens and answers a metadata request."""
    if not processes.port_open(config.host, config.port):
        return False
    return asyncio.run(_cluster_ready(config.bootstrap))


@dataclass
class RunningBroker:
    config: BrokerConfig
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def bootstrap(self) -> str:
        return self.config.bootstrap

    def stop(self) -> None:
        processes.stop_process(self.process, grace=30)


def start(
    config: BrokerConfig, *, cache_dir: Path, log_path: Path, timeout: float = 90
) -> RunningBroker:
    """Start a broker and wait until it serves metadata (used by tests and benchmarks)."""
    argv = prepare(config, cache_dir)
    process = processes.start_process(argv, log_path=log_path)
    try:
        processes.wait_until(
            lambda: is_ready(config),
            what=f"Kafka broker on {config.bootstrap}",
            timeout=timeout,
            process=process,
            log_path=log_path,
        )
    except BaseException:
        processes.stop_process(process, grace=5)
        raise
    return RunningBroker(config=config, process=process, log_path=log_path)


# Shared with the three-node cluster (localstack/kafka_cluster.py).
DEPLOY_DIR = _DEPLOY_DIR
kafka_uuid = _kafka_uuid
