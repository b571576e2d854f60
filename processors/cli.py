"""``cairn replay``: rebuild every projection from the event log (see :mod:`processors.replay`).

On the local stack the processors part is stopped for the replay and started again afterwards;
in production, scale the processors to zero first (docs/schema.md).
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "replay", help="rebuild all ClickHouse projections from the event log"
    )
    parser.set_defaults(func=cmd_replay)


def _local_stack_url() -> tuple[str, Any] | None:
    """The admin URL and supervisor of a running local stack, if this machine runs one."""
    from localstack import secrets as local_secrets
    from localstack.settings import StackSettings
    from localstack.stack import Supervisor

    stack = StackSettings.from_env(os.environ)
    found = local_secrets.load(stack.secrets_path)
    if found is None:
        return None
    url = stack.admin_clickhouse_url(found)
    return url, (stack, Supervisor(stack), found)


def cmd_replay(args: argparse.Namespace) -> int:
    from processors.replay import replay
    from processors.settings import ProcessorsSettings
    from query.client import ClickHouseTarget, connect

    settings = ProcessorsSettings.from_env(os.environ)
    local = None if "CAIRN_CLICKHOUSE_URL" in os.environ else _local_stack_url()
    url = settings.clickhouse_url if local is None else local[0]
    bootstrap = settings.kafka_bootstrap
    restart = None
    if local is not None:
        from localstack.stack import parts

        stack, supervisor, secrets = local[1]
        bootstrap = stack.kafka_bootstrap
        processors_part = next(
            p for p in parts(stack, secrets, os.environ) if p.name == "processors"
        )
        if supervisor.stop("processors"):
            print("  processors stopped for the replay")
            restart = (supervisor, processors_part)
    database = ClickHouseTarget.from_url(url).database
    try:
        result = asyncio.run(
            replay(
                bootstrap,
                (settings.events_topic, settings.identity_topic),
                lambda: connect(url),
                database,
            )
        )
    finally:
        if restart is not None:
            restart[0].start(restart[1])
            print("  processors started again")
    print(
        f"replayed {result.events} events ({result.points} metric points, {result.poison} poison skipped)"
        f" into {database} in {result.seconds:.1f}s"
    )
    return 0
