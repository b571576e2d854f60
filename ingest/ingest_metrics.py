"""Prometheus metrics of one ingest server, on their own registry, served over HTTP.

A registry per server (not the process-global one) lets tests run several servers in one
process. Rates such as events/s and points/s are ``rate()`` over the counters.
"""

from __future__ import annotations

import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class IngestMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.events = Counter(
            "cairn_ingest_events", "Events acknowledged by Kafka", ["event_type"], registry=r
        )
        self.points = Counter(
            "cairn_ingest_points", "Metric points acknowledged by Kafka", registry=r
        )
        self.batches = Counter("cairn_ingest_batches", "Batches acknowledged by Kafka", registry=r)
        self.bytes = Counter(
            "cairn_ingest_event_bytes", "Serialized event bytes written", registry=r
        )
        self.rejected = Counter(
            "cairn_ingest_rejected_batches",
            "Batches rejected, by Cairn error code and rule",
            ["code", "rule"],
            registry=r,
        )
        self.latency = Histogram(
            "cairn_ingest_batch_latency_seconds",
            "From receiving a batch to Kafka acknowledging all its events",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight_bytes = Gauge(
            "cairn_ingest_in_flight_bytes",
            "Bytes handed to Kafka, not yet acknowledged",
            registry=r,
        )
        self.open_streams = Gauge("cairn_ingest_open_streams", "Publish streams open", registry=r)
        self._http: tuple[WSGIServer, threading.Thread] | None = None

    def serve(self, host: str, port: int) -> int:
        """Serve /metrics on ``host:port`` (0: any free port) in a thread; return the port."""
        self._http = start_http_server(port, addr=host, registry=self.registry)
        return int(self._http[0].server_port)

    def stop(self) -> None:
        if self._http is not None:
            server, thread = self._http
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
            self._http = None
