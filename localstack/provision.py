"""``python -m localstack.provision``: one-shot set-up of a deployed Cairn (container image, Helm
hook, compose ``setup`` service, the cluster profile).

The container image carries no SDK, so there is no ``cairn`` command in it; this module is what a
deployment runs before the services start, and again on every upgrade (each step is idempotent):

- ``topics``: create the Kafka topics with the cluster's replication factor and
  ``min.insync.replicas`` (an existing topic is left as it is: partitions are never changed);
- ``migrate``: apply the single-node ClickHouse migrations to ``CAIRN_CLICKHOUSE_URL`` (for a
  replicated ClickHouse cluster, apply ``cairn migrate --print-cluster-ddl NAME`` instead);
- ``issue-key``: issue an API key for a team and print it (the first key of an installation).

Variables (read here only, the entry point): ``CAIRN_KAFKA_BOOTSTRAP``,
``CAIRN_CLICKHOUSE_URL``, ``CAIRN_API_KEY_PEPPER`` (the one ingest hashes keys with: ``issue-key``
must use it too), ``CAIRN_KAFKA_REPLICATION_FACTOR`` (default 1),
``CAIRN_KAFKA_MIN_INSYNC_REPLICAS`` (default 1), ``CAIRN_EVENTS_PARTITIONS`` (default 12).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from cairn_contract.errors import CairnError, ConfigError
from servicekit import topics
from servicekit.envconfig import read_int, read_str


@dataclass(frozen=True)
class ProvisionSettings:
    kafka_bootstrap: str = "127.0.0.1:9092"
    clickhouse_url: str = ""
    replication_factor: int = 1
    min_insync_replicas: int = 1
    events_partitions: int = 12
    api_key_pepper: str = field(default="", repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ProvisionSettings:
        rf = read_int(env, "CAIRN_KAFKA_REPLICATION_FACTOR", 1, minimum=1)
        min_isr = read_int(env, "CAIRN_KAFKA_MIN_INSYNC_REPLICAS", 1, minimum=1)
        if min_isr > rf:
            raise ConfigError(
                f"CAIRN_KAFKA_MIN_INSYNC_REPLICAS ({min_isr}) must not exceed "
                f"CAIRN_KAFKA_REPLICATION_FACTOR ({rf}): no write could ever be acknowledged",
                field="CAIRN_KAFKA_MIN_INSYNC_REPLICAS",
            )
        return cls(
            kafka_bootstrap=read_str(env, "CAIRN_KAFKA_BOOTSTRAP", cls.kafka_bootstrap),
            clickhouse_url=read_str(env, "CAIRN_CLICKHOUSE_URL", ""),
            replication_factor=rf,
            min_insync_replicas=min_isr,
            events_partitions=read_int(env, "CAIRN_EVENTS_PARTITIONS", 12, minimum=1),
            api_key_pepper=read_str(env, "CAIRN_API_KEY_PEPPER", ""),
        )


def replicated_topics(
    replication_factor: int, min_insync_replicas: int, events_partitions: int
) -> tuple[topics.TopicSpec, ...]:
    """Cairn's topics for a cluster: every topic replicated, ``min.insync.replicas`` set so an
    acknowledged write (producers use ``acks=all``) survives the loss of a broker.

    The automations outbox and its dead letters are included: the processors create them when
    missing, but only with one replica, so a deployment creates them here first (the processors
    then leave an existing topic as it is)."""
    specs = []
    for spec in (*topics.ALL_TOPICS, topics.AUTOMATIONS, topics.AUTOMATIONS_DLQ):
        configs = tuple(
            (key, str(min_insync_replicas) if key == "min.insync.replicas" else value)
            for key, value in spec.configs
        )
        partitions = events_partitions if spec.name == topics.EVENTS_TOPIC else spec.partitions
        specs.append(
            replace(
                spec,
                partitions=partitions,
                replication_factor=replication_factor,
                configs=configs,
            )
        )
    return tuple(specs)


def create_topics(settings: ProvisionSettings) -> list[str]:
    specs = replicated_topics(
        settings.replication_factor, settings.min_insync_replicas, settings.events_partitions
    )
    return asyncio.run(topics.ensure_topics(settings.kafka_bootstrap, specs))


def migrate(settings: ProvisionSettings) -> list[str]:
    from query.client import ClickHouseTarget, connect
    from query.migrations import apply_migrations

    if not settings.clickhouse_url:
        raise ConfigError("set CAIRN_CLICKHOUSE_URL to migrate", field="CAIRN_CLICKHOUSE_URL")
    target = ClickHouseTarget.from_url(settings.clickhouse_url)
    client = connect(settings.clickhouse_url, database="default")
    return [f"{m.version:04d} {m.name}" for m in apply_migrations(client, target.database)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localstack.provision", description=__doc__)
    steps = parser.add_subparsers(dest="step", required=True)
    steps.add_parser("topics", help="create the Kafka topics (replicated, idempotent)")
    steps.add_parser("migrate", help="apply ClickHouse migrations (single node, idempotent)")
    steps.add_parser("all", help="topics, then migrate")
    issue = steps.add_parser("issue-key", help="issue an API key for a team and print it")
    issue.add_argument("--team", required=True)
    issue.add_argument("--role", choices=["writer", "admin"], default="admin")
    issue.add_argument("--name", default="")
    args = parser.parse_args(argv)

    try:
        settings = ProvisionSettings.from_env(os.environ)
        if args.step in ("topics", "all"):
            created = create_topics(settings)
            print(f"topics created: {', '.join(created) or 'none (all exist)'}")
        if args.step in ("migrate", "all"):
            applied = migrate(settings)
            print(f"migrations applied: {', '.join(applied) or 'none (up to date)'}")
        if args.step == "issue-key":
            from ingest.keys import issue_key_directly

            key = asyncio.run(
                issue_key_directly(
                    settings.kafka_bootstrap,
                    team=args.team,
                    role=args.role,
                    name=args.name,
                    pepper=settings.api_key_pepper,
                )
            )
            print(key)
    except CairnError as exc:
        print(f"provision: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
