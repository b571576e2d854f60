"""Settings of the local stack that ``cairn up`` runs: where state lives and which ports are used.

Defaults are the documented local addresses (Kafka 9092, ClickHouse HTTP 8123, ingest 50051,
portal 8501); every one can be moved with a ``CAIRN_*`` variable.

Discovery: ``cairn up`` records the stack's home and ports in the local-stack file
(``CAIRN_LOCAL_STACK_FILE``, default ``~/.cairn/local-stack.json``), the same file the SDK reads.
When ``CAIRN_HOME`` is not set, every verb (``status``, ``sql``, ``down``, ``up`` again) finds the
running stack through that file, from any directory; ``./.cairn`` of the current directory is the
default only when no stack was ever started. A ``CAIRN_*`` variable still wins over the file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localstack.secrets import LocalSecrets
from servicekit.envconfig import read_int, read_path, read_str

# local-stack.json key under which `cairn up` records where the stack lives (the SDK ignores it).
DISCOVERY_KEY = "stack"
# StackSettings field -> environment variable, for the ports recorded in the discovery file.
_PORTS = {
    "kafka_port": "CAIRN_KAFKA_PORT",
    "kafka_controller_port": "CAIRN_KAFKA_CONTROLLER_PORT",
    "clickhouse_port": "CAIRN_CLICKHOUSE_PORT",
    "ingest_port": "CAIRN_INGEST_PORT",
    "ingest_metrics_port": "CAIRN_INGEST_METRICS_PORT",
    "processors_port": "CAIRN_PROCESSORS_PORT",
    "portal_port": "CAIRN_PORTAL_PORT",
}


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
    # CAIRN_CLICKHOUSE_URL: an admin ClickHouse URL to use instead of the local endpoint's
    # (``cairn migrate``, ``cairn sql --admin``); "" means the local stack's.
    explicit_clickhouse_url: str = ""
    # CAIRN_SQL_URL: the URL ``cairn sql`` connects to instead of the local reader's; "" means none.
    explicit_sql_url: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> StackSettings:
        discovery_file = read_path(
            env, "CAIRN_LOCAL_STACK_FILE", Path.home() / ".cairn" / "local-stack.json"
        )
        # Without CAIRN_HOME, the stack `cairn up` last started (from whichever directory) is the
        # one every verb means; its recorded ports are defaults that CAIRN_*_PORT still override.
        found = {} if env.get("CAIRN_HOME") else recorded_stack(discovery_file)
        merged = dict(env)
        for name, var in _PORTS.items():
            if var not in env and name in found:
                merged[var] = str(found[name])
        home_default = Path(found["home"]) if "home" in found else Path.cwd() / ".cairn"
        return cls(
            home=read_path(env, "CAIRN_HOME", home_default),
            cache_dir=read_path(env, "CAIRN_CACHE_DIR", Path.home() / ".cache" / "cairn"),
            discovery_file=discovery_file,
            host=read_str(env, "CAIRN_HOST", str(found.get("host", "127.0.0.1"))),
            kafka_port=read_int(merged, "CAIRN_KAFKA_PORT", 9092, minimum=1),
            kafka_controller_port=read_int(merged, "CAIRN_KAFKA_CONTROLLER_PORT", 9093, minimum=1),
            clickhouse_port=read_int(merged, "CAIRN_CLICKHOUSE_PORT", 8123, minimum=1),
            ingest_port=read_int(merged, "CAIRN_INGEST_PORT", 50051, minimum=1),
            ingest_metrics_port=read_int(merged, "CAIRN_INGEST_METRICS_PORT", 9464, minimum=1),
            processors_port=read_int(merged, "CAIRN_PROCESSORS_PORT", 6066, minimum=1),
            portal_port=read_int(merged, "CAIRN_PORTAL_PORT", 8501, minimum=1),
            explicit_clickhouse_url=read_str(env, "CAIRN_CLICKHOUSE_URL", ""),
            explicit_sql_url=read_str(env, "CAIRN_SQL_URL", ""),
        )

    def discovery_record(self) -> dict[str, Any]:
        """What ``cairn up`` writes under :data:`DISCOVERY_KEY` so other directories find it."""
        return {
            "home": str(self.home),
            "host": self.host,
            **{name: getattr(self, name) for name in _PORTS},
        }

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


def recorded_stack(discovery_file: Path) -> dict[str, Any]:
    """The stack recorded in the local-stack file, if its home still exists; else ``{}``.

    A missing, unreadable or foreign file means "no recorded stack": discovery is a convenience,
    never a reason for a verb to fail.
    """
    try:
        raw = json.loads(discovery_file.read_text())
    except (OSError, ValueError):
        return {}
    record = raw.get(DISCOVERY_KEY) if isinstance(raw, dict) else None
    if not isinstance(record, dict) or not isinstance(record.get("home"), str):
        return {}
    if not Path(record["home"]).is_dir():
        return {}
    return record
