"""Settings of the local stack that ``cairn up`` runs: where state lives and which ports are used.

Defaults are the documented local addresses (Kafka 9092, ClickHouse HTTP 8123, ingest 50051,
portal 8501); every one can be moved with a ``CAIRN_*`` variable.

Discovery: ``cairn up`` records the stack's home and ports in the local-stack file
(``CAIRN_LOCAL_STACK_FILE``, default ``~/.cairn/local-stack.json``), the same file the SDK reads.
When ``CAIRN_HOME`` is not set, every verb (``status``, ``sql``, ``down``, ``up`` again) finds the
running stack through that file, from any directory; ``./.cairn`` of the current directory is the
default only when no stack was ever started. A ``CAIRN_*`` variable still wins over the file.

Profiles: ``single`` (the default: one of each part) and ``cluster`` (``cairn up --profile
cluster``: three Kafka nodes, two ingest replicas, three processors workers). A replicated part's
instance ``i`` (0-based) listens on its base port + ``CLUSTER_PORT_STRIDE * i``; the profile a home
was started with is recorded in ``$CAIRN_HOME/profile`` (and the discovery file), so ``status``,
``down`` and ``up`` again find it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cairn_contract.errors import ConfigError
from localstack.secrets import LocalSecrets
from servicekit.envconfig import read_int, read_path, read_str

SINGLE = "single"
CLUSTER = "cluster"
PROFILES = (SINGLE, CLUSTER)
# Replica i of a replicated part listens on base port + stride * i: 9092, 9102, 9112 for Kafka
# with controllers on 9093, 9103, 9113, so the two series never meet.
CLUSTER_PORT_STRIDE = 10
KAFKA_NODES = 3
INGEST_REPLICAS = 2
PROCESSORS_WORKERS = 3

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
    # CAIRN_TEAM: the caller's team, whose reporting user ``cairn sql`` reads as by default.
    sql_team: str = ""
    profile: str = SINGLE  # SINGLE or CLUSTER (see the module docstring)

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
        home = read_path(env, "CAIRN_HOME", home_default)
        return cls(
            home=home,
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
            sql_team=read_str(env, "CAIRN_TEAM", ""),
            profile=recorded_profile(home) or str(found.get("profile", SINGLE)),
        )

    def with_profile(self, profile: str) -> StackSettings:
        """These settings for ``profile``; ConfigError naming ``--profile`` if it is unknown."""
        if profile not in PROFILES:
            raise ConfigError(
                f"--profile must be one of {', '.join(PROFILES)}, got {profile!r}",
                field="profile",
                rule="one_of",
            )
        return replace(self, profile=profile)

    @property
    def profile_file(self) -> Path:
        return self.home / "profile"

    def discovery_record(self) -> dict[str, Any]:
        """What ``cairn up`` writes under :data:`DISCOVERY_KEY` so other directories find it."""
        return {
            "home": str(self.home),
            "host": self.host,
            "profile": self.profile,
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

    def _replicas(self, base: int, count: int) -> list[int]:
        """Ports of a part's instances: one on the single profile, ``count`` on the cluster."""
        if self.profile != CLUSTER:
            return [base]
        return [base + CLUSTER_PORT_STRIDE * i for i in range(count)]

    @property
    def kafka_ports(self) -> list[int]:
        return self._replicas(self.kafka_port, KAFKA_NODES)

    @property
    def kafka_controller_ports(self) -> list[int]:
        return self._replicas(self.kafka_controller_port, KAFKA_NODES)

    @property
    def clickhouse_users_file(self) -> Path:
        """The ClickHouse endpoint's users (sha256 hashes; team users are added while it runs)."""
        return self.home / "clickhouse-users.json"

    @property
    def kafka_bootstrap(self) -> str:
        """Every broker, comma-separated (Kafka clients take a list)."""
        return ",".join(f"{self.host}:{port}" for port in self.kafka_ports)

    @property
    def ingest_addresses(self) -> list[str]:
        return [f"{self.host}:{port}" for port in self._replicas(self.ingest_port, INGEST_REPLICAS)]

    @property
    def ingest_metrics_ports(self) -> list[int]:
        return self._replicas(self.ingest_metrics_port, INGEST_REPLICAS)

    @property
    def processors_ports(self) -> list[int]:
        return self._replicas(self.processors_port, PROCESSORS_WORKERS)

    @property
    def ingest_address(self) -> str:
        """The first ingest replica (the only one on the single profile)."""
        return self.ingest_addresses[0]

    @property
    def ingest_url(self) -> str:
        """What the SDK is given: every ingest replica, comma-separated (it spreads over them)."""
        return ",".join(self.ingest_addresses)

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


def recorded_profile(home: Path) -> str | None:
    """The profile ``cairn up`` last started in ``home`` (``$CAIRN_HOME/profile``), if any."""
    try:
        profile = (home / "profile").read_text().strip()
    except OSError:
        return None
    return profile if profile in PROFILES else None
