"""``cairn replay``: rebuild every projection from the event log (see :mod:`processors.replay`).

On the local stack the processors part is stopped for the replay and started again afterwards
(the local stack plugs that in through the ``cairn.replay_targets`` entry-point group, so this
module never imports it); in production, scale the processors to zero first (docs/schema.md).
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from importlib.metadata import entry_points
from typing import Any, Protocol


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "replay", help="rebuild all ClickHouse projections from the event log"
    )
    parser.set_defaults(func=cmd_replay)


class ReplayTarget(Protocol):
    """Where a replay goes when something other than the processors' settings says so."""

    clickhouse_url: str
    kafka_bootstrap: str

    def processors_paused(self) -> AbstractContextManager[None]: ...


def _replay_target(environ: Mapping[str, str]) -> ReplayTarget | None:
    """The first target a ``cairn.replay_targets`` entry point finds (the local stack registers
    one: it replays into the running local stack with its processors paused), else None."""
    for entry in sorted(entry_points(group="cairn.replay_targets"), key=lambda e: e.name):
        found: ReplayTarget | None = entry.load()(environ)
        if found is not None:
            return found
    return None


def cmd_replay(args: argparse.Namespace) -> int:
    from processors.replay import replay
    from processors.settings import ProcessorsSettings
    from query.client import ClickHouseTarget, connect

    settings = ProcessorsSettings.from_env(os.environ)
    target = None if settings.clickhouse_url_given else _replay_target(os.environ)
    url = settings.clickhouse_url if target is None else target.clickhouse_url
    bootstrap = settings.kafka_bootstrap if target is None else target.kafka_bootstrap
    database = ClickHouseTarget.from_url(url).database
    with nullcontext() if target is None else target.processors_paused():
        result = asyncio.run(
            replay(
                bootstrap,
                (settings.events_topic, settings.identity_topic),
                lambda: connect(url),
                database,
            )
        )
    print(
        f"replayed {result.events} events ({result.points} metric points, {result.poison} poison skipped)"
        f" into {database} in {result.seconds:.1f}s"
    )
    return 0
