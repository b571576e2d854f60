"""Entry point: ``python -m processors`` runs the faust worker until SIGTERM."""

from __future__ import annotations

import os

import faust

from processors.app import create_app
from processors.settings import ProcessorsSettings
from processors.writer import ProjectionWriter
from query.client import ClickHouseTarget, connect
from servicekit.logs import configure_logging


def main() -> None:
    settings = ProcessorsSettings.from_env(os.environ)
    configure_logging(service="processors", level=settings.log_level)
    database = ClickHouseTarget.from_url(settings.clickhouse_url).database
    writer = ProjectionWriter(lambda: connect(settings.clickhouse_url), database)
    app, _ = create_app(settings, writer=writer)
    worker = faust.Worker(app, loglevel="info", quiet=True)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
