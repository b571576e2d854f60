"""The Run page's Histograms section, run by ``streamlit.testing`` against a store of its own.

Two runs are projected into a fresh database on the session's real ClickHouse endpoint, exactly
as the processors would: one that logged histograms of two keys over three steps, one that
logged none. The section appears only for the first.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import pytest
import streamlit as st

from cairn.v1 import events_pb2, metrics_pb2, runs_pb2
from localstack.demo import write_users_file
from query.client import connect
from query.migrations import apply_migrations, drop_database
from tests.builders import event
from tests.integration.conftest_clickhouse import ClickHouseEndpoint
from tests.ui.conftest import ALICE, PageHarness, PortalStore, project_events

WITH = "run-histo"
WITHOUT = "run-plain"


def _run(run_id: str, name: str, histograms: list[metrics_pb2.Histogram]) -> list[events_pb2.Event]:
    now = time.time_ns() - 60_000_000_000
    scope = {"run_id": run_id, "team": "risk", "project": "histo"}
    events = [
        event(
            "run_created", runs_pb2.RunCreated(name=name), sequence=1, occurred_at_ns=now, **scope
        )
    ]
    for offset, histogram in enumerate(histograms):
        batch = metrics_pb2.HistogramBatch(histograms=[histogram])
        events.append(
            event("histograms", batch, sequence=2 + offset, occurred_at_ns=now + offset, **scope)
        )
    finished = runs_pb2.RunStatusChanged(status=runs_pb2.RUN_STATUS_FINISHED)
    events.append(
        event("run_status_changed", finished, sequence=99, occurred_at_ns=now + 999, **scope)
    )
    return events


@pytest.fixture(scope="module")
def histogram_store(
    clickhouse_endpoint: ClickHouseEndpoint, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PortalStore]:
    root = tmp_path_factory.mktemp("histograms-portal")
    database = f"ui_h_{uuid.uuid4().hex[:10]}"
    admin = connect(clickhouse_endpoint.url, database="default")
    apply_migrations(admin, database)
    url = f"{clickhouse_endpoint.url}/{database}"
    histograms = [
        metrics_pb2.Histogram(
            key=key, step=step, edges=[step - 1.0, step + 0.0, step + 1.0], counts=[step + 1.0, 4.0]
        )
        for step in range(3)
        for key in ("fc1/weights", "fc1/grad")
    ]
    project_events(
        url, database, [*_run(WITH, "with-histograms", histograms), *_run(WITHOUT, "plain", [])]
    )
    users_file = root / "portal-users.json"
    write_users_file(users_file)
    # The portal caches reads per caller, not per store: keep this store's answers (no members,
    # other runs) out of the other page tests, which read the demo store as the same people.
    st.cache_data.clear()
    yield PortalStore(url, database, users_file, root / "artifacts", {})
    st.cache_data.clear()
    drop_database(admin, database)


@pytest.fixture
def pages(histogram_store: PortalStore, monkeypatch: pytest.MonkeyPatch) -> PageHarness:
    return PageHarness(histogram_store, monkeypatch)


def test_a_run_with_histograms_shows_a_heatmap_per_key_and_keeps_the_key_in_the_url(
    pages: PageHarness,
) -> None:
    app = pages.open("views/run.py", ALICE, {"id": WITH, "tab": "Histograms"})
    assert not app.exception
    picker = app.selectbox(key="run.histogram")
    assert list(picker.options) == ["fc1/grad", "fc1/weights"]
    heatmap, last = (json.loads(chart.proto.spec) for chart in app.get("plotly_chart"))
    assert heatmap["data"][0]["type"] == "heatmap"
    assert heatmap["data"][0]["x"] == [0, 1, 2]
    assert heatmap["layout"]["title"]["text"] == "fc1/grad"
    assert last["layout"]["title"]["text"] == "fc1/grad at step 2"
    assert last["data"][0]["y"] == [3.0, 4.0]

    app = picker.set_value("fc1/weights").run()
    assert not app.exception
    assert app.query_params["hist"] == "fc1/weights"
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in app.get("plotly_chart")]
    assert titles == ["fc1/weights", "fc1/weights at step 2"]


def test_a_run_without_histograms_has_no_histograms_section(pages: PageHarness) -> None:
    app = pages.open("views/run.py", ALICE, {"id": WITHOUT, "tab": "Histograms"})
    assert not app.exception
    assert not [s for s in app.selectbox if s.key == "run.histogram"]
    assert app.query_params["tab"] == "Charts"  # fell back to the default section
