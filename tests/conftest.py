"""Fixtures shared by every test layer; the real-server fixtures live in plugin modules."""

import pytest

pytest_plugins = [
    "tests.integration.conftest_kafka",
    "tests.integration.conftest_clickhouse",
    "tests.pipeline",
]

# A test that uses one of these (directly or through another fixture) talks to a real broker or
# ClickHouse endpoint: it is an integration test whether or not its module says so, so
# `make test-unit` (-m "not integration and not e2e") never starts a server.
SERVER_FIXTURES = frozenset({"kafka_broker", "kafka_bootstrap", "clickhouse_endpoint", "pipeline"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        marked = item.get_closest_marker("integration") or item.get_closest_marker("e2e")
        fixtures = set(getattr(item, "fixturenames", ()))
        if marked is None and fixtures & SERVER_FIXTURES:
            item.add_marker(pytest.mark.integration)
