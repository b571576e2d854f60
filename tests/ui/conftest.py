"""Fixtures for the portal's tests: the demo's events projected into a real store.

The page tests (``streamlit.testing`` AppTest) need data to show. They get the demo's own events
(:func:`localstack.demo.build_demo`), projected by the processors' pure projection code and
written by their writer into a fresh database on the session's real ClickHouse endpoint, so
every page runs its real queries. No Kafka or ingest is involved: the pages' writes go to a
:class:`~ui.ingest_writer.RecordingSink` the tests inspect.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client
from streamlit.testing.v1 import AppTest

from cairn.v1 import envelope_pb2, events_pb2
from domain.projections import LogPosition, Projection
from localstack.demo import DEMO_PASSWORD, build_demo, local_store, write_users_file
from processors.projection_writer import ProjectionWriter
from query.client import connect
from query.migrations import apply_migrations
from tests.integration.conftest_clickhouse import ClickHouseEndpoint
from ui.auth import Identity
from ui.context import IDENTITY_KEY, SINK_KEY
from ui.ingest_writer import RecordingSink

APP = Path(__file__).resolve().parents[2] / "ui" / "app.py"


@dataclass(frozen=True)
class PortalStore:
    url: str  # CAIRN_CLICKHOUSE_URL of the demo database
    database: str
    users_file: Path
    artifacts: Path
    run_ids: dict[str, str]  # demo run name -> run id
    password: str = DEMO_PASSWORD

    def client(self) -> Client:
        return connect(self.url)


def project_events(url: str, database: str, events: Sequence[events_pb2.Event]) -> None:
    """Project events exactly as the processors would (ingest's stamping included)."""
    projection = Projection()
    for offset, event in enumerate(events):
        env = event.envelope
        env.actor.kind = envelope_pb2.ACTOR_KIND_SERVICE
        env.actor.id = env.actor.id or "demo-seed"
        env.received_at_ns = env.received_at_ns or env.occurred_at_ns
        projection.add(event.SerializeToString(), LogPosition("cairn.events.v1", 0, offset))
    ProjectionWriter(lambda: connect(url), database).write(projection)


@pytest.fixture(scope="session")
def portal_store(
    clickhouse_endpoint: ClickHouseEndpoint, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PortalStore]:
    """The demo, projected into its own database (dropped at the end)."""
    root = tmp_path_factory.mktemp("portal")
    database = f"ui_{uuid.uuid4().hex[:10]}"
    apply_migrations(connect(clickhouse_endpoint.url, database="default"), database)
    url = f"{clickhouse_endpoint.url}/{database}"
    demo = build_demo(time.time_ns(), local_store(root / "artifacts"))
    project_events(url, database, demo.events)
    users_file = root / "portal-users.json"
    write_users_file(users_file)
    yield PortalStore(url, database, users_file, root / "artifacts", dict(demo.run_ids))
    connect(clickhouse_endpoint.url, database="default").command(
        f"DROP DATABASE IF EXISTS {database}"
    )


@dataclass
class PageHarness:
    """Opens portal pages in AppTest as a given person, with writes going to ``sink``."""

    store: PortalStore
    monkeypatch: pytest.MonkeyPatch

    def open(
        self,
        page: str,
        identity: Identity | None,
        params: dict[str, str] | None = None,
        sink: RecordingSink | None = None,
    ) -> AppTest:
        for name, value in {
            "CAIRN_CLICKHOUSE_URL": self.store.url,
            "CAIRN_PORTAL_USERS": str(self.store.users_file),
            "CAIRN_ARTIFACT_STORE": str(self.store.artifacts),
            "CAIRN_PORTAL_URL": "http://portal.test",
            "CAIRN_PORTAL_AUTH": "local",
        }.items():
            self.monkeypatch.setenv(name, value)
        self.monkeypatch.delenv("CAIRN_HOME", raising=False)
        app = AppTest.from_file(str(APP), default_timeout=60)
        if identity is not None:
            app.session_state[IDENTITY_KEY] = identity
        app.session_state[SINK_KEY] = sink if sink is not None else RecordingSink()
        for key, value in (params or {}).items():
            app.query_params[key] = value
        app.switch_page(page)
        return app.run()


ALICE = Identity("alice", "Alice Moreau", frozenset({"risk"}))
CAROL = Identity("carol", "Carol Lin", frozenset({"vision"}))
ADMIN = Identity("admin", "Portal Admin", frozenset({"risk", "vision"}), admin=True)


@pytest.fixture
def pages(portal_store: PortalStore, monkeypatch: pytest.MonkeyPatch) -> PageHarness:
    """Open pages of the portal (``pages.open("views/runs.py", ALICE)``) against the demo."""
    return PageHarness(portal_store, monkeypatch)
