"""Settings of the processors worker, from ``CAIRN_*`` variables (read only by the entry point)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from servicekit.envconfig import read_float, read_int, read_path, read_str


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
    session_timeout_s: float = 10.0  # short, so a restarted local worker rejoins quickly
    log_level: str = "INFO"  # CAIRN_LOG_LEVEL
    # Whether CAIRN_CLICKHOUSE_URL was set: `cairn replay` then writes there even when a local
    # stack runs on this machine.
    clickhouse_url_given: bool = False

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
            session_timeout_s=read_float(
                env, "CAIRN_KAFKA_SESSION_TIMEOUT_S", defaults.session_timeout_s
            ),
            log_level=read_str(env, "CAIRN_LOG_LEVEL", defaults.log_level),
            clickhouse_url_given="CAIRN_CLICKHOUSE_URL" in env,
        )
