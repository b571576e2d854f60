"""Settings of the local stack that ``cairn up`` runs: where state lives and which ports are used.

Defaults are the documented local addresses (Kafka 9092, ClickHouse HTTP 8123, ingest 50051,
portal 8501); every one can be moved with a ``CAIRN_*`` variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from localstack.secrets import LocalSecrets
from servicekit.envconfig import read_int, read_path, read_str


@dataclass(frozen=True)
class StackSettings:
    home: Path  # CAIRN_HOME: data, logs, PIDs and local secrets (default ./.cairn)
    cache_dir: Path  # CAIRN_CACHE_DIR: downloaded jars, shared by every checkout
    discovery_file: Path  # CAIRN_LOCAL_STACK_FILE: where the SDK finds the local stack and its key
    host: str = "127.0.0.1"
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    clickhouse_port: int = 8123
    ingest_port: int = 50051
    ingest_metrics_port: int = 9464
    processors_port: int = 6066
    portal_port: int = 8501

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> StackSettings:
        return cls(
            home=read_path(env, "CAIRN_HOME", Path.cwd() / ".cairn"),
            cache_dir=read_path(env, "CAIRN_CACHE_DIR", Path.home() / ".cache" / "cairn"),
            discovery_file=read_path(
                env, "CAIRN_LOCAL_STACK_FILE", Path.home() / ".cairn" / "local-stack.json"
            ),
            host=read_str(env, "CAIRN_HOST", "127.0.0.1"),
            kafka_port=read_int(env, "CAIRN_KAFKA_PORT", 9092, minimum=1),
            kafka_controller_port=read_int(env, "CAIRN_KAFKA_CONTROLLER_PORT", 9093, minimum=1),
            clickhouse_port=read_int(env, "CAIRN_CLICKHOUSE_PORT", 8123, minimum=1),
            ingest_port=read_int(env, "CAIRN_INGEST_PORT", 50051, minimum=1),
            ingest_metrics_port=read_int(env, "CAIRN_INGEST_METRICS_PORT", 9464, minimum=1),
            processors_port=read_int(env, "CAIRN_PROCESSORS_PORT", 6066, minimum=1),
            portal_port=read_int(env, "CAIRN_PORTAL_PORT", 8501, minimum=1),
        )

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def secrets_path(self) -> Path:
        return self.home / "secrets.json"

    @property
    def kafka_bootstrap(self) -> str:
        return f"{self.host}:{self.kafka_port}"

    @property
    def ingest_address(self) -> str:
        return f"{self.host}:{self.ingest_port}"

    @property
    def portal_url(self) -> str:
        return f"http://{self.host}:{self.portal_port}"

    def clickhouse_url(self, user: str, password: str, database: str = "cairn") -> str:
        return f"http://{user}:{password}@{self.host}:{self.clickhouse_port}/{database}"

    def admin_clickhouse_url(self, secrets: LocalSecrets) -> str:
        return self.clickhouse_url(LocalSecrets.ADMIN_USER, secrets.clickhouse_admin_password)

    def reporting_clickhouse_url(self, secrets: LocalSecrets) -> str:
        return self.clickhouse_url(
            LocalSecrets.REPORTING_USER, secrets.clickhouse_reporting_password
        )
