"""Ingest's configuration: one frozen value, built from ``CAIRN_*`` variables by the entry point.

Tests build :class:`IngestSettings` directly (random topic names, port 0, small limits); only
``ingest/__main__.py`` and the ``cairn key`` command pass ``os.environ`` to :meth:`from_env`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from cairn_contract.errors import ConfigError
from cairn_contract.limits import KIB, MIB, Limits
from servicekit.envconfig import read_bool, read_int, read_str, split_host_port
from servicekit.topics import EVENTS_TOPIC, IDENTITY_TOPIC, ownership_topic_for

_COMPRESSIONS = {"none": None, "gzip": "gzip", "snappy": "snappy", "lz4": "lz4", "zstd": "zstd"}


@dataclass(frozen=True)
class IngestSettings:
    listen: str = "127.0.0.1:50051"  # host:port of the gRPC server; port 0 picks a free one
    kafka_bootstrap: str = "127.0.0.1:9092"
    events_topic: str = EVENTS_TOPIC
    identity_topic: str = IDENTITY_TOPIC
    # Which team owns each aggregate (ingest/ownership_log.py); '' pairs it with events_topic.
    ownership_topic: str = ""
    metrics_port: int | None = 9464  # Prometheus /metrics on the listen host; None: off, 0: any
    limits: Limits = field(default_factory=Limits)
    # Backpressure: bytes handed to Kafka but not yet acknowledged, across all calls. A stream
    # stops reading (and gRPC flow control stops its client) while this is exhausted.
    max_in_flight_bytes: int = 64 * MIB
    # Batches one Publish stream may have in flight before it waits for their acks.
    max_in_flight_batches_per_stream: int = 64
    shutdown_grace_s: float = 10.0  # time open calls get to finish on SIGTERM
    kafka_linger_ms: int = 2
    kafka_max_batch_bytes: int = 1 * MIB  # per partition; records larger than this go alone
    kafka_compression: str | None = None
    kafka_request_timeout_ms: int = 30_000
    log_level: str = "INFO"
    log_json: bool = True
    # The projection store the query service (cairn.v1.Query, served on the same port) reads,
    # as http://user:password@host:port/database; "" serves ingest alone.
    clickhouse_url: str = ""
    # CAIRN_API_KEY_PEPPER: the secret API-key hashes are keyed with (domain/identity.py); the
    # same value must reach every tool that issues keys (cairn key, provision issue-key).
    api_key_pepper: str = field(default="", repr=False)
    # Automations (docs/automations.md): the key webhook secrets are sealed with (base64, 32
    # bytes; the processors hold the same) and the internal networks webhooks may reach.
    automations_secret_key: str = field(default="", repr=False)
    webhook_allowed_networks: str = ""

    @property
    def ownership_log_topic(self) -> str:
        return self.ownership_topic or ownership_topic_for(self.events_topic)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> IngestSettings:
        listen = read_str(env, "CAIRN_INGEST_LISTEN", cls.listen)
        split_host_port(listen, name="CAIRN_INGEST_LISTEN")
        metrics_port = read_int(env, "CAIRN_INGEST_METRICS_PORT", 9464, minimum=-1)
        compression = read_str(env, "CAIRN_KAFKA_COMPRESSION", "none").lower()
        if compression not in _COMPRESSIONS:
            choices = ", ".join(_COMPRESSIONS)
            raise ConfigError(
                f"CAIRN_KAFKA_COMPRESSION must be one of {choices}, got {compression!r}",
                field="CAIRN_KAFKA_COMPRESSION",
            )
        defaults = Limits()
        limits = Limits(
            max_batch_bytes=read_int(
                env, "CAIRN_INGEST_MAX_BATCH_BYTES", defaults.max_batch_bytes, minimum=KIB
            ),
            max_events_per_batch=read_int(
                env, "CAIRN_INGEST_MAX_EVENTS_PER_BATCH", defaults.max_events_per_batch, minimum=1
            ),
            max_event_bytes=read_int(
                env, "CAIRN_INGEST_MAX_EVENT_BYTES", defaults.max_event_bytes, minimum=KIB
            ),
            max_points_per_batch=read_int(
                env, "CAIRN_INGEST_MAX_POINTS_PER_BATCH", defaults.max_points_per_batch, minimum=1
            ),
        )
        return cls(
            listen=listen,
            kafka_bootstrap=read_str(env, "CAIRN_KAFKA_BOOTSTRAP", cls.kafka_bootstrap),
            events_topic=read_str(env, "CAIRN_EVENTS_TOPIC", cls.events_topic),
            identity_topic=read_str(env, "CAIRN_IDENTITY_TOPIC", cls.identity_topic),
            ownership_topic=read_str(env, "CAIRN_OWNERSHIP_TOPIC", ""),
            metrics_port=None if metrics_port < 0 else metrics_port,
            limits=limits,
            max_in_flight_bytes=read_int(
                env, "CAIRN_INGEST_MAX_IN_FLIGHT_BYTES", cls.max_in_flight_bytes, minimum=MIB
            ),
            shutdown_grace_s=float(read_int(env, "CAIRN_INGEST_SHUTDOWN_GRACE_S", 10, minimum=0)),
            kafka_linger_ms=read_int(env, "CAIRN_KAFKA_LINGER_MS", cls.kafka_linger_ms, minimum=0),
            kafka_compression=_COMPRESSIONS[compression],
            log_level=read_str(env, "CAIRN_LOG_LEVEL", cls.log_level),
            log_json=read_bool(env, "CAIRN_LOG_JSON", cls.log_json),
            clickhouse_url=read_str(env, "CAIRN_CLICKHOUSE_URL", cls.clickhouse_url),
            api_key_pepper=read_str(env, "CAIRN_API_KEY_PEPPER", ""),
            automations_secret_key=read_str(env, "CAIRN_AUTOMATIONS_SECRET_KEY", ""),
            webhook_allowed_networks=read_str(env, "CAIRN_WEBHOOK_ALLOWED_NETWORKS", ""),
        )

    @property
    def grpc_max_receive_bytes(self) -> int:
        """gRPC's own message limit: a little above the batch limit, so a batch just over the
        limit gets Cairn's INVALID_ARGUMENT with details and only far larger ones are cut off by
        gRPC (RESOURCE_EXHAUSTED) before they are read into memory."""
        return self.limits.max_batch_bytes + 64 * KIB

    @property
    def kafka_max_request_bytes(self) -> int:
        return max(2 * self.limits.max_event_bytes, 4 * self.kafka_max_batch_bytes)
