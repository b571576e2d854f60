"""``python -m ingest``: run the ingest server until SIGTERM or SIGINT, then shut down gracefully.

The only place ingest reads ``os.environ`` (see ``ingest/settings.py`` for the variables).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import structlog

from cairn_contract.errors import CairnError
from ingest.server import IngestServer
from ingest.settings import IngestSettings
from servicekit.logs import configure_logging


async def serve(settings: IngestSettings) -> None:
    server = IngestServer(settings)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await server.start()
    try:
        await stopping.wait()
    finally:
        await server.stop()


def main() -> int:
    try:
        settings = IngestSettings.from_env(os.environ)
    except CairnError as exc:
        print(f"ingest: {exc}", file=sys.stderr)
        return 2
    configure_logging(service="ingest", level=settings.log_level, json=settings.log_json)
    try:
        asyncio.run(serve(settings))
    except CairnError as exc:
        structlog.get_logger("ingest").error(
            "ingest failed", code=exc.code.value, error=exc.message
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
