"""``cairn up``: bring every part of the local stack up, in order, and prepare what it needs.

Order matters: Kafka first (topics are created explicitly), then the store (migrated), then the
local admin API key (an event on the identity topic), then ingest, processors and the portal.
Every step is idempotent, so running ``up`` twice is harmless.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from localstack import clickhouse_http
from localstack import secrets as local_secrets
from localstack.secrets import LocalSecrets
from localstack.settings import DISCOVERY_KEY, StackSettings
from localstack.stack import Supervisor, parts
from query.client import connect
from query.migrations import apply_migrations
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
    secrets = local_secrets.load_or_create(settings.secrets_path)
    clickhouse_http.write_users_file(
        settings.home / "clickhouse-users.json",
        {
            LocalSecrets.ADMIN_USER: (secrets.clickhouse_admin_password, False),
            LocalSecrets.REPORTING_USER: (secrets.clickhouse_reporting_password, True),
        },
    )
    supervisor = Supervisor(settings)
    by_name = {part.name: part for part in parts(settings, secrets, env)}

    def start(name: str) -> None:
        log(f"  {name:<11} {'started' if supervisor.start(by_name[name]) else 'already running'}")

    start("kafka")
    asyncio.run(topics.ensure_topics(settings.kafka_bootstrap, topics.ALL_TOPICS))
    start("clickhouse")
    admin_url = settings.admin_clickhouse_url(secrets)
    for migration in apply_migrations(connect(admin_url, database="default"), "cairn"):
        log(f"  {'migrate':<11} applied {migration.version:04d} {migration.name}")
    if not secrets.admin_api_key:
        secrets = _issue_local_admin_key(settings, secrets)
    _ensure_portal_key(settings)
    start("ingest")
    start("processors")
    start("portal")
    # The SDK's last configuration fallback: training code on this machine finds the stack.
    local_secrets.write_private_json(
        settings.discovery_file,
        {
            "ingest_url": settings.ingest_address,
            "api_key": secrets.admin_api_key,
            "portal_url": settings.portal_url,
            "team": LOCAL_TEAM,
            # Where this stack lives: `cairn status`/`sql`/`down` find it from any directory.
            DISCOVERY_KEY: settings.discovery_record(),
        },
    )
    addresses = {part.name: part.address for part in by_name.values()}
    addresses["query"] = f"{settings.ingest_address} (cairn.v1.Query, served by ingest)"
    return StackSummary(
        addresses=addresses,
        api_key=secrets.admin_api_key,
    )


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
    updated = LocalSecrets(
        clickhouse_admin_password=secrets.clickhouse_admin_password,
        clickhouse_reporting_password=secrets.clickhouse_reporting_password,
        admin_api_key=key,
    )
    local_secrets.save(settings.secrets_path, updated)
    return updated
