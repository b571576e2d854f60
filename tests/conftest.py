"""Fixtures shared by every test layer; the real-server fixtures live in plugin modules."""

import gc
import warnings

import pytest

pytest_plugins = [
    "tests.integration.conftest_kafka",
    "tests.integration.conftest_clickhouse",
    "tests.integration.processors_harness",  # the ``setup`` fixture: a test's topics and database
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


# Resources no test closed that are still reachable at the end (found by a last collection).
_LEFT_AT_END: list[str] = []


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Collect what is left once every test has run and report it in the summary.

    A leak a test causes while it runs fails that test (``filterwarnings = error`` and pytest's
    unraisable-exception check). What survives in a reference cycle until the very end cannot
    be attributed to a test any more: on a clean machine one aiokafka connection to the session
    broker (with its socket, transport and stream writer) whose event loop had been closed was
    such a case, most likely a connection a short-lived client opened while it was being
    stopped. It is listed under "resources left at the end of the session" instead of failing
    a run whose every test passed; a leak inside a test still fails that test."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        gc.collect()
        gc.collect()
    _LEFT_AT_END.extend(str(w.message) for w in caught if issubclass(w.category, ResourceWarning))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _LEFT_AT_END:
        terminalreporter.section("resources left at the end of the session")
        for line in _LEFT_AT_END:
            terminalreporter.write_line(line)
