"""Fixtures for query tests: one seeded world per session, in its own database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from clickhouse_connect.driver.client import Client

from domain.projections import LogPosition, Projection
from processors.projection_writer import ProjectionWriter
from query.client import connect
from query.migrations import apply_migrations
from query.reporting_schema import reporting_database
from tests.integration.conftest_clickhouse import ClickHouseEndpoint
from tests.query.integration.world import Clock, build


@dataclass(frozen=True)
class World:
    endpoint: ClickHouseEndpoint
    database: str
    clock: Clock
    events: int

    @property
    def reporting(self) -> str:
        return reporting_database(self.database)

    def client(self) -> Client:
        """An admin client whose default database is the world's projection database."""
        return connect(f"{self.endpoint.url}/{self.database}")

    def reporting_client(self) -> Client:
        """The read-only reporting user, on the world's reporting database."""
        return connect(f"{self.endpoint.reporting_url}/{self.reporting}")


def seed(endpoint: ClickHouseEndpoint, database: str, clock: Clock) -> int:
    """Project the world's events with the real projection code and write them. Returns how
    many events were written."""
    admin = connect(f"{endpoint.url}/default")
    apply_migrations(admin, database)
    log = build(clock)
    projection = Projection()
    for offset, ev in enumerate([*log.events, *log.identity]):
        projection.add(ev.SerializeToString(), LogPosition("test.events", 0, offset))
    ProjectionWriter(lambda: connect(f"{endpoint.url}/default"), database).write(projection)
    return projection.events


@pytest.fixture(scope="session")
def world(clickhouse_endpoint: ClickHouseEndpoint) -> Iterator[World]:
    """The world of ``tests/query/integration/world.py``, seeded once into a fresh database."""
    database = f"q_{uuid.uuid4().hex[:10]}"
    clock = Clock(datetime.now(UTC))
    count = seed(clickhouse_endpoint, database, clock)
    yield World(clickhouse_endpoint, database, clock, count)
    admin = connect(f"{clickhouse_endpoint.url}/default")
    for db in (database, reporting_database(database)):
        admin.command(f"DROP DATABASE IF EXISTS `{db}` SYNC")


@pytest.fixture(scope="session")
def client(world: World) -> Client:
    return world.client()
