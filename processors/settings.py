"""Settings of the processors worker, from ``CAIRN_*`` variables (read only by the entry point)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from servicekit.envconfig import read_bool, read_float, read_int, read_path, read_str


@dataclass(frozen=True)
class ProcessorsSettings:
    kafka_bootstrap: str = "127.0.0.1:9092"
    clickhouse_url: str = "http://default:@127.0.0.1:8123/cairn"
    events_topic: str = "cairn.events.v1"
    identity_topic: str = "cairn.identity.v1"
    dead_letter_topic: str = "cairn.events.dlq.v1"
    group_id: str = "cairn-processors"
    web_host: str = "127.0.0.1"
    web_port: int = 6066  # health and Prometheus metrics
    data_dir: Path = Path(".cairn/processors")
    flush_interval_s: float = 0.5  # longest time a projected row waits before it is written
    flush_max_events: int = 2_000  # write earlier when this many events are buffered
    pipelined: bool = True  # project the next batch while the last is written (CAIRN_PIPELINED)
    # Bytes of events (as stored in Kafka) per write: a batch of larger events is written in
    # several inserts, so a backlog of 20,000-point events does not become one insert of
    # 40 M rows (the worker's and the store's memory follow the insert's size).
    flush_max_bytes: int = 32 * 2**20  # 8 MiB cost a third of the throughput (docs/benchmarks.md)
    # Events faust reads ahead per stream before pausing the fetch (faust's stream_buffer_maxsize,
    # 4,096 by default): bounds what waits in memory behind the batch being written.
    stream_buffer_events: int = 1_000
    session_timeout_s: float = 10.0  # short, so a restarted local worker rejoins quickly
    log_level: str = "INFO"  # CAIRN_LOG_LEVEL
    # Whether CAIRN_CLICKHOUSE_URL was set: `cairn replay` then writes there even when a local
    # stack runs on this machine.
    clickhouse_url_given: bool = False
    # Automations (docs/automations.md). Topics default to names derived from the events topic.
    automations_enabled: bool = True
    automations_topic: str = ""  # the outbox of due notifications
    automations_dead_letter_topic: str = ""  # notifications given up on after the last attempt
    delivery_attempts: int = 6  # attempts per notification before it is dead-lettered
    delivery_backoff_s: float = 2.0  # wait before the second attempt; doubles after each
    delivery_max_backoff_s: float = 300.0
    delivery_timeout_s: float = 10.0  # per webhook request or SMTP conversation
    delivery_concurrency: int = 4  # notifications delivered at once per worker
    stall_check_interval_s: float = 15.0  # how often run.stalled rules look at running runs
    # How often each worker re-reads the rules from the store: a rule event reaches only the
    # worker that owns its partition, every worker needs every rule.
    rules_reload_interval_s: float = 10.0
    smtp_host: str = ""  # email actions fail (and are retried) until this is set
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_from: str = "cairn@localhost"
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    # Opens the webhook secrets ingest sealed (CAIRN_AUTOMATIONS_SECRET_KEY, the same key).
    automations_secret_key: str = field(default="", repr=False)
    # Internal networks webhooks may reach (CIDRs; docs/automations.md): none by default.
    webhook_allowed_networks: str = ""

    def __post_init__(self) -> None:
        base = self.events_topic
        derived = (
            base.replace("events", "automations", 1) if "events" in base else f"{base}.automations"
        )
        if not self.automations_topic:
            object.__setattr__(self, "automations_topic", derived)
        if not self.automations_dead_letter_topic:
            object.__setattr__(self, "automations_dead_letter_topic", f"{derived}.dlq")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ProcessorsSettings:
        defaults = cls()
        return cls(
            kafka_bootstrap=read_str(env, "CAIRN_KAFKA_BOOTSTRAP", defaults.kafka_bootstrap),
            clickhouse_url=read_str(env, "CAIRN_CLICKHOUSE_URL", defaults.clickhouse_url),
            events_topic=read_str(env, "CAIRN_EVENTS_TOPIC", defaults.events_topic),
            identity_topic=read_str(env, "CAIRN_IDENTITY_TOPIC", defaults.identity_topic),
            dead_letter_topic=read_str(env, "CAIRN_DEAD_LETTER_TOPIC", defaults.dead_letter_topic),
            group_id=read_str(env, "CAIRN_PROCESSORS_GROUP", defaults.group_id),
            web_host=read_str(env, "CAIRN_PROCESSORS_HOST", defaults.web_host),
            web_port=read_int(env, "CAIRN_PROCESSORS_PORT", defaults.web_port, minimum=1),
            data_dir=read_path(env, "CAIRN_PROCESSORS_DATA_DIR", defaults.data_dir),
            flush_interval_s=read_float(env, "CAIRN_FLUSH_INTERVAL_S", defaults.flush_interval_s),
            flush_max_events=read_int(
                env, "CAIRN_FLUSH_MAX_EVENTS", defaults.flush_max_events, minimum=1
            ),
            pipelined=read_bool(env, "CAIRN_PIPELINED", defaults.pipelined),
            flush_max_bytes=read_int(
                env, "CAIRN_FLUSH_MAX_BYTES", defaults.flush_max_bytes, minimum=1
            ),
            stream_buffer_events=read_int(
                env, "CAIRN_STREAM_BUFFER_EVENTS", defaults.stream_buffer_events, minimum=1
            ),
            session_timeout_s=read_float(
                env, "CAIRN_KAFKA_SESSION_TIMEOUT_S", defaults.session_timeout_s
            ),
            log_level=read_str(env, "CAIRN_LOG_LEVEL", defaults.log_level),
            clickhouse_url_given="CAIRN_CLICKHOUSE_URL" in env,
            automations_enabled=read_bool(env, "CAIRN_AUTOMATIONS", defaults.automations_enabled),
            automations_topic=read_str(env, "CAIRN_AUTOMATIONS_TOPIC", ""),
            automations_dead_letter_topic=read_str(env, "CAIRN_AUTOMATIONS_DLQ_TOPIC", ""),
            delivery_attempts=read_int(
                env, "CAIRN_DELIVERY_ATTEMPTS", defaults.delivery_attempts, minimum=1
            ),
            delivery_backoff_s=read_float(
                env, "CAIRN_DELIVERY_BACKOFF_S", defaults.delivery_backoff_s
            ),
            delivery_max_backoff_s=read_float(
                env, "CAIRN_DELIVERY_MAX_BACKOFF_S", defaults.delivery_max_backoff_s
            ),
            delivery_timeout_s=read_float(
                env, "CAIRN_DELIVERY_TIMEOUT_S", defaults.delivery_timeout_s
            ),
            delivery_concurrency=read_int(
                env, "CAIRN_DELIVERY_CONCURRENCY", defaults.delivery_concurrency, minimum=1
            ),
            stall_check_interval_s=read_float(
                env, "CAIRN_STALL_CHECK_INTERVAL_S", defaults.stall_check_interval_s
            ),
            rules_reload_interval_s=read_float(
                env, "CAIRN_RULES_RELOAD_INTERVAL_S", defaults.rules_reload_interval_s
            ),
            smtp_host=read_str(env, "CAIRN_SMTP_HOST", defaults.smtp_host),
            smtp_port=read_int(env, "CAIRN_SMTP_PORT", defaults.smtp_port, minimum=1),
            smtp_user=read_str(env, "CAIRN_SMTP_USER", defaults.smtp_user),
            smtp_password=read_str(env, "CAIRN_SMTP_PASSWORD", defaults.smtp_password),
            smtp_from=read_str(env, "CAIRN_SMTP_FROM", defaults.smtp_from),
            smtp_starttls=read_bool(env, "CAIRN_SMTP_STARTTLS", defaults.smtp_starttls),
            smtp_ssl=read_bool(env, "CAIRN_SMTP_SSL", defaults.smtp_ssl),
            automations_secret_key=read_str(env, "CAIRN_AUTOMATIONS_SECRET_KEY", ""),
            webhook_allowed_networks=read_str(env, "CAIRN_WEBHOOK_ALLOWED_NETWORKS", ""),
        )
