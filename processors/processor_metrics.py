"""Prometheus metrics of the processors worker (served at ``/metrics`` on the worker's web port)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class ProcessorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.events = Counter(
            "cairn_processor_events_total", "Events projected", registry=self.registry
        )
        self.points = Counter(
            "cairn_processor_metric_points_total", "Metric points written", registry=self.registry
        )
        self.rows = Counter(
            "cairn_processor_rows_total", "Rows written to ClickHouse", registry=self.registry
        )
        self.poison = Counter(
            "cairn_processor_poison_events_total",
            "Events sent to the dead-letter topic",
            registry=self.registry,
        )
        self.write_seconds = Histogram(
            "cairn_processor_write_seconds",
            "Time to write one batch to ClickHouse, retries included",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
