"""Entry point: ``python -m processors`` runs the faust worker until SIGTERM."""

from __future__ import annotations

import os

import faust

from processors.app import create_app
from processors.settings import ProcessorsSettings
from servicekit.logs import configure_logging


def main() -> None:
    settings = ProcessorsSettings.from_env(os.environ)
    configure_logging(service="processors", level=os.environ.get("CAIRN_LOG_LEVEL", "INFO"))
    app = create_app(settings)
    worker = faust.Worker(app, loglevel="info", quiet=True)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
