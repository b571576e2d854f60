"""``cairn up``: bring every part of the local stack up, in order, and prepare what it needs.

Order matters: Kafka first (topics are created explicitly), then the store (migrated), then the
local admin API key (an event on the identity topic), then ingest, processors and the portal.
Every step is idempotent, so running ``up`` twice is harmless.

On the cluster profile every Kafka node is launched before any is waited for (a node is not
ready until the quorum is), then the cluster must list all three brokers before its topics are
created replicated; the replicas of ingest and of the processors start side by side.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from cairn_contract.errors import ConfigError
from localstack import clickhouse_http, processes
from localstack import secrets as local_secrets
from localstack.secrets import LocalSecrets
from localstack.settings import CLUSTER, DISCOVERY_KEY, StackSettings, recorded_profile
from localstack.stack import Part, Supervisor, parts
from query.client import connect
from query.migrations import apply_migrations
from query.reporting_schema import reporting_database
from query.row_policies import team_role
from servicekit import topics

LOCAL_TEAM = "local"  # the team of the local admin key


@dataclass(frozen=True)
class StackSummary:
    addresses: dict[str, str]
    api_key: str


def bootstrap_stack(
    settings: StackSettings, env: Mapping[str, str], *, log: Callable[[str], None]
) -> StackSummary:
    settings.home.mkdir(parents=True, exist_ok=True)
    supervisor = Supervisor(settings)
    _claim_home(settings, supervisor)
    secrets = local_secrets.load_or_create(settings.secrets_path)
    clickhouse_http.write_users_file(
        settings.clickhouse_users_file,
        {
            LocalSecrets.ADMIN_USER: (secrets.clickhouse_admin_password, False),
            LocalSecrets.REPORTING_USER: (secrets.clickhouse_reporting_password, True),
        },
        keep_team_users=True,
    )
    # The local team's SQL credentials; `cairn sql --team T` adds other teams' on first use.
    ensure_team_reporting_user(settings, secrets, LOCAL_TEAM)
    all_parts = parts(settings, secrets, env)
    # Parts of one family (kafka-1..3, ingest-1..2, processors-1..3) start side by side.
    families = [
        list(group)
        for _, group in itertools.groupby(all_parts, key=lambda part: part.name.split("-")[0])
    ]

    def start(group: list[Part]) -> None:
        for part, started in zip(group, supervisor.start_together(group), strict=True):
            log(f"  {part.name:<11} {'started' if started else 'already running'}")

    kafka, clickhouse, *services = families
    start(kafka)
    if settings.profile == CLUSTER:
        from localstack import kafka_cluster
        from localstack.cluster_profile import cluster_topics, kafka_config

        config = kafka_config(settings)
        processes.wait_until(
            lambda: kafka_cluster.cluster_ready(config), what="the Kafka cluster", timeout=180
        )
        asyncio.run(topics.ensure_topics(settings.kafka_bootstrap, cluster_topics()))
    else:
        asyncio.run(topics.ensure_topics(settings.kafka_bootstrap, topics.ALL_TOPICS))
    start(clickhouse)
    admin_url = settings.admin_clickhouse_url(secrets)
    for migration in apply_migrations(connect(admin_url, database="default"), "cairn"):
        log(f"  {'migrate':<11} applied {migration.version:04d} {migration.name}")
    if not secrets.admin_api_key:
        secrets = _issue_local_admin_key(settings, secrets)
    _ensure_portal_key(settings)
    for group in services:
        start(group)
    # The SDK's last configuration fallback: training code on this machine finds the stack.
    local_secrets.write_private_json(
        settings.discovery_file,
        {
            "ingest_url": settings.ingest_url,
            "api_key": secrets.admin_api_key,
            "portal_url": settings.portal_url,
            "team": LOCAL_TEAM,
            # Where this stack lives: `cairn status`/`sql`/`down` find it from any directory.
            DISCOVERY_KEY: settings.discovery_record(),
        },
    )
    addresses = {part.name: part.address for part in all_parts}
    for part in all_parts:
        if part.name.startswith("ingest"):
            query = part.name.replace("ingest", "query", 1)
            addresses[query] = f"{part.address} (cairn.v1.Query, served by {part.name})"
    return StackSummary(
        addresses=addresses,
        api_key=secrets.admin_api_key,
    )


def _claim_home(settings: StackSettings, supervisor: Supervisor) -> None:
    """Record the profile this home runs; refuse to start a second profile over a running one."""
    before = recorded_profile(settings.home)
    if before is not None and before != settings.profile:
        running = [name for name in supervisor.recorded() if supervisor.pid(name) is not None]
        if running:
            raise ConfigError(
                f"a {before} stack runs in {settings.home} ({', '.join(running)}): "
                f"run `cairn down` before `cairn up --profile {settings.profile}`",
                field="profile",
                rule="one_profile_per_home",
            )
    settings.profile_file.write_text(settings.profile + "\n")


def ensure_team_reporting_user(settings: StackSettings, secrets: LocalSecrets, team: str) -> str:
    """Make sure ``team`` has its reporting user on the local endpoint; its ClickHouse URL.

    The user (``reporting_<team>``, password derived from the stack's team reporting key) reads
    only the reporting views, restricted to the team's rows plus what is shared with it
    (``query/row_policies.py``). The endpoint re-reads its users file, so this takes effect at
    once, without a restart.
    """
    user = team_role(team)
    password = secrets.team_reporting_password(team)
    clickhouse_http.add_team_user(
        settings.clickhouse_users_file, user, password, team=team, database="cairn"
    )
    return settings.clickhouse_url(user, password, reporting_database("cairn"))


def _ensure_portal_key(settings: StackSettings) -> None:
    """The portal writes events as an admin *service* key of each team it writes for (a key only
    writes its own team's events); the local team's key is issued here once, the demo adds more.
    """
    from ingest.keys import issue_key_directly

    keys_file = settings.home / "portal-keys.json"
    keys: dict[str, str] = json.loads(keys_file.read_text()) if keys_file.exists() else {}
    if LOCAL_TEAM in keys:
        return
    keys[LOCAL_TEAM] = asyncio.run(
        issue_key_directly(settings.kafka_bootstrap, team=LOCAL_TEAM, role="admin", name="portal")
    )
    local_secrets.write_private_json(keys_file, keys)


def _issue_local_admin_key(settings: StackSettings, secrets: LocalSecrets) -> LocalSecrets:
    from ingest.keys import issue_key_directly

    key = asyncio.run(
        issue_key_directly(
            settings.kafka_bootstrap, team=LOCAL_TEAM, role="admin", name="local-admin"
        )
    )
    updated = replace(secrets, admin_api_key=key)
    local_secrets.save(settings.secrets_path, updated)
    return updated
