"""Fixtures shared by every test layer; the real-server fixtures live in plugin modules."""

pytest_plugins = [
    "tests.integration.conftest_kafka",
    "tests.integration.conftest_clickhouse",
    "tests.pipeline",
]
