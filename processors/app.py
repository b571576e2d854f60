"""The faust application: built by :func:`create_app` from settings, never at import time."""

from __future__ import annotations

from typing import Any

import faust
from faust.web import Request, Response, View

from processors.settings import ProcessorsSettings


def create_app(settings: ProcessorsSettings) -> faust.App:
    app = faust.App(
        settings.group_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="memory://",
        datadir=str(settings.data_dir),
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_in_thread=False,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=1.0,
        broker_rebalance_timeout=settings.session_timeout_s,
        consumer_auto_offset_reset="earliest",
        topic_allow_declare=False,  # topics are created explicitly with their configs
        topic_disable_leader=True,
    )

    @app.page("/health")
    class Health(View):  # type: ignore[misc]
        """200 once the worker is running and not rebalancing; 503 otherwise."""

        async def get(self, request: Request) -> Response:
            ready = bool(app.consumer and not app.rebalancing)
            body: dict[str, Any] = {"status": "ok" if ready else "starting", "group": settings.group_id}
            return self.json(body, status=200 if ready else 503)

    return app
