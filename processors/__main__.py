"""Entry point: ``python -m processors`` runs the faust worker until SIGTERM."""

from __future__ import annotations

import asyncio
import os

import faust

from processors.app import create_app
from processors.automations import ClickHouseDeliveryStore
from processors.projection_writer import ProjectionWriter
from processors.settings import ProcessorsSettings
from query.client import ClickHouseTarget, connect
from servicekit import topics
from servicekit.logs import configure_logging


def main() -> None:
    settings = ProcessorsSettings.from_env(os.environ)
    configure_logging(service="processors", level=settings.log_level)
    database = ClickHouseTarget.from_url(settings.clickhouse_url).database
    writer = ProjectionWriter(lambda: connect(settings.clickhouse_url), database)
    store = None
    if settings.automations_enabled:
        # The automation topics are the processors' own: created here, named after the events
        # topic unless configured (docs/automations.md).
        own = [
            topics.AUTOMATIONS.renamed(settings.automations_topic),
            topics.AUTOMATIONS_DLQ.renamed(settings.automations_dead_letter_topic),
        ]
        asyncio.run(topics.ensure_topics(settings.kafka_bootstrap, own))
        own_writer = ProjectionWriter(lambda: connect(settings.clickhouse_url), database)
        store = ClickHouseDeliveryStore(lambda: connect(settings.clickhouse_url), own_writer)
    app, _ = create_app(settings, writer=writer, automation_store=store)
    worker = faust.Worker(app, loglevel="info", quiet=True)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
