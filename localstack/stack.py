"""The local stack: start, stop and inspect its five parts, in dependency order, by PID.

Parts: Kafka (the event log), the ClickHouse HTTP endpoint (the store), ingest, processors and the
portal; on the cluster profile Kafka, ingest and processors are replicated
(:mod:`localstack.cluster_profile`). ``up`` is idempotent: a part whose recorded PID is alive and healthy is left alone. State
lives under ``$CAIRN_HOME``: ``run/<part>.pid``, ``logs/<part>.log``, each part's data directory
and ``secrets.json``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from domain.webhook_targets import LOOPBACK
from localstack import health, kafka_broker, processes
from localstack.secrets import LocalSecrets
from localstack.settings import CLUSTER, StackSettings


@dataclass(frozen=True)
class Part:
    name: str
    address: str  # what `up` prints: where users and other parts reach it
    argv: Callable[[], list[str]]  # built lazily: preparing Kafka may download jars
    healthy: Callable[[], bool]
    env: Mapping[str, str] = field(default_factory=dict)
    start_timeout: float = 90.0


@dataclass(frozen=True)
class PartStatus:
    name: str
    address: str
    pid: int | None
    healthy: bool

    @property
    def state(self) -> str:
        if self.pid is None:
            return "stopped"
        return "healthy" if self.healthy else "unhealthy"


def service_env(
    settings: StackSettings, secrets: LocalSecrets, base: Mapping[str, str]
) -> dict[str, str]:
    """The environment every service process gets: the caller's plus the stack's addresses."""
    env = dict(base)
    env.update(
        CAIRN_HOME=str(settings.home),
        CAIRN_KAFKA_BOOTSTRAP=settings.kafka_bootstrap,
        CAIRN_CLICKHOUSE_URL=settings.admin_clickhouse_url(secrets),
        CAIRN_INGEST_LISTEN=settings.ingest_address,
        CAIRN_INGEST_URL=settings.ingest_address,
        CAIRN_INGEST_METRICS_PORT=str(settings.ingest_metrics_port),
        CAIRN_PROCESSORS_PORT=str(settings.processors_port),
        CAIRN_PROCESSORS_HOST=settings.host,
        CAIRN_PROCESSORS_DATA_DIR=str(settings.home / "processors"),
        CAIRN_PORTAL_URL=settings.portal_url,
        CAIRN_AUTOMATIONS_SECRET_KEY=secrets.automations_secret_key,
        CAIRN_PORTAL_COOKIE_SECRET=secrets.portal_cookie_secret,
    )
    # A laptop's webhook receivers run on it: the local stack lets webhooks reach loopback
    # (and nothing else internal) unless the caller says otherwise.
    env.setdefault("CAIRN_WEBHOOK_ALLOWED_NETWORKS", LOOPBACK)
    return env


def parts(
    settings: StackSettings, secrets: LocalSecrets, base_env: Mapping[str, str]
) -> list[Part]:
    """The parts of ``settings.profile``, in start order (``down`` stops them in reverse)."""
    single = single_parts(settings, secrets, base_env)
    if settings.profile != CLUSTER:
        return single
    from localstack.cluster_profile import cluster_parts

    return cluster_parts(settings, single)


def single_parts(
    settings: StackSettings, secrets: LocalSecrets, base_env: Mapping[str, str]
) -> list[Part]:
    python = sys.executable
    env = service_env(settings, secrets, base_env)
    broker = kafka_broker.BrokerConfig(
        data_dir=settings.home / "kafka",
        host=settings.host,
        port=settings.kafka_port,
        controller_port=settings.kafka_controller_port,
    )
    ch_base = f"http://{settings.host}:{settings.clickhouse_port}"
    ui_app = Path(__file__).resolve().parents[1] / "ui" / "app.py"
    return [
        Part(
            name="kafka",
            address=settings.kafka_bootstrap,
            argv=lambda: kafka_broker.prepare(broker, settings.cache_dir),
            healthy=lambda: kafka_broker.is_ready(broker),
            start_timeout=180,
        ),
        Part(
            name="clickhouse",
            address=ch_base,
            argv=lambda: [
                python,
                "-m",
                "localstack.clickhouse_http",
                "--data-dir",
                str(settings.home / "clickhouse"),
                "--host",
                settings.host,
                "--port",
                str(settings.clickhouse_port),
                "--users-file",
                str(settings.clickhouse_users_file),
            ],
            healthy=lambda: health.http_ok(f"{ch_base}/ping", expect=b"Ok."),
            env=env,
        ),
        Part(
            name="ingest",
            address=settings.ingest_address,
            argv=lambda: [python, "-m", "ingest"],
            healthy=lambda: health.grpc_serving(settings.ingest_address),
            env=env,
        ),
        Part(
            name="processors",
            address=f"http://{settings.host}:{settings.processors_port}/health",
            argv=lambda: [python, "-m", "processors"],
            healthy=lambda: health.http_ok(
                f"http://{settings.host}:{settings.processors_port}/health"
            ),
            env=env,
        ),
        Part(
            name="portal",
            address=settings.portal_url,
            # Streamlit cannot send security headers: the portal is reached through the proxy
            # that adds them (Content-Security-Policy, frame-ancestors 'none', ...) and that
            # runs Streamlit as its child on a private port of 127.0.0.1.
            argv=lambda: [
                python,
                "-m",
                "localstack.portal_proxy",
                f"--listen={settings.host}:{settings.portal_port}",
                "--",
                python,
                "-m",
                "streamlit",
                "run",
                str(ui_app),
                "--server.headless=true",
                "--browser.gatherUsageStats=false",
                # No "file changed, rerun?" banner mid-session, no "Deploy" button.
                "--server.fileWatcherType=none",
                "--client.toolbarMode=viewer",
            ],
            healthy=lambda: health.http_ok(f"{settings.portal_url}/_stcore/health"),
            env=env,
        ),
    ]


QUERY_SERVICE = "cairn.v1.Query"
STORES = ("kafka", "clickhouse")  # parts (and replicas, "kafka-2") the services write to


def query_status(ingest: PartStatus) -> PartStatus:
    """The query service runs inside each ingest process (same address and PID); it is healthy
    when that ingest's health service says ``cairn.v1.Query`` is SERVING."""
    healthy = ingest.pid is not None and health.grpc_serving(ingest.address, service=QUERY_SERVICE)
    name = ingest.name.replace("ingest", "query", 1)
    return PartStatus(name, f"{ingest.address} (in {ingest.name})", ingest.pid, healthy)


class Supervisor:
    """Starts and stops parts, remembering each one's PID in ``$CAIRN_HOME/run``."""

    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings

    def _pid_file(self, name: str) -> Path:
        return self.settings.run_dir / f"{name}.pid"

    def _log(self, name: str) -> Path:
        return self.settings.logs_dir / f"{name}.log"

    def pid(self, name: str) -> int | None:
        try:
            pid = int(self._pid_file(name).read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if processes.pid_alive(pid) else None

    def start(self, part: Part) -> bool:
        """Start ``part`` unless it already runs; wait until healthy. True if it was started."""
        return self.start_together([part])[0]

    def start_together(self, group: Sequence[Part]) -> list[bool]:
        """Launch every part of ``group`` that is not running, then wait for each to be healthy.

        Parts that need each other to become healthy (the Kafka nodes of one quorum) must be
        started this way: waiting for the first before launching the second would never end.
        Returns, per part, whether it was started.
        """
        launched: list[subprocess.Popen[bytes] | None] = []
        for part in group:
            if self.pid(part.name) is not None and part.healthy():
                launched.append(None)
                continue
            self.stop(part.name)
            process = processes.start_process(
                part.argv(), log_path=self._log(part.name), env=part.env or None, cwd=Path.cwd()
            )
            self._pid_file(part.name).parent.mkdir(parents=True, exist_ok=True)
            self._pid_file(part.name).write_text(str(process.pid))
            launched.append(process)
        for part, child in zip(group, launched, strict=True):
            if child is not None:
                processes.wait_until(
                    part.healthy,
                    what=part.name,
                    timeout=part.start_timeout,
                    process=child,
                    log_path=self._log(part.name),
                )
        return [child is not None for child in launched]

    def recorded(self) -> list[str]:
        """Names of every part with a PID file (running or not), whatever the profile."""
        return sorted(p.stem for p in self.settings.run_dir.glob("*.pid"))

    def stop(self, name: str) -> bool:
        """Stop a part if it runs. True if it was running."""
        pid = self.pid(name)
        self._pid_file(name).unlink(missing_ok=True)
        if pid is None:
            return False
        processes.stop_pid(pid, grace=30)
        return True

    def stop_all(self, names: Sequence[str]) -> list[tuple[str, bool]]:
        """Stop the parts ``names`` (in stop order); per part, whether it was running.

        The services (portal, processors, ingest) stop together: none needs another while it
        shuts down, and each needs only the stores. The stores (ClickHouse, the Kafka nodes)
        stop after them, one by one in the given order, so every write a service flushes on its
        way out still lands. ``cairn down`` then takes about the slowest service plus the
        stores, not the sum of all.
        """
        services = [name for name in names if not name.startswith(STORES)]
        stores = [name for name in names if name.startswith(STORES)]
        with ThreadPoolExecutor(max_workers=max(1, len(services))) as pool:
            stopped = dict(zip(services, pool.map(self.stop, services), strict=True))
        for name in stores:
            stopped[name] = self.stop(name)
        return [(name, stopped[name]) for name in names]

    def status(self, part: Part) -> PartStatus:
        pid = self.pid(part.name)
        return PartStatus(part.name, part.address, pid, pid is not None and part.healthy())
