"""The Run page's Reproduce section, on runs projected into the demo's store: the exact command,
what would differ today (a truncated patch, a dataset whose URI a later run recorded with another
digest, no container digest), and the reproduction report on both the original's and the
reproduction's pages."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from cairn.v1 import common_pb2, lineage_pb2, metrics_pb2, provenance_pb2, runs_pb2
from cairn_contract.reproduction import TAG_REPRODUCES
from localstack.demo import write_users_file
from query.client import connect
from query.migrations import apply_migrations
from tests.builders import event
from tests.integration.conftest_clickhouse import ClickHouseEndpoint
from tests.ui.conftest import ALICE, CAROL, PageHarness, PortalStore, project_events

DATA_URI = "file:///data/churn/train.csv"


def _run(
    name: str, *, digest: str, losses: list[float], truncated: bool, reproduces: str = ""
) -> tuple[str, list]:
    run_id = str(uuid.uuid4())
    tags = [runs_pb2.Tag(key=TAG_REPRODUCES, value=reproduces)] if reproduces else []
    payloads = [
        ("run_created", runs_pb2.RunCreated(name=name, command_line=["train.py", "--fast"])),
        ("params_set", runs_pb2.ParamsSet(params=[runs_pb2.Param(key="lr", value=runs_pb2.ParamValue(double_value=0.1))])),
        ("code_version_recorded", provenance_pb2.CodeVersionRecorded(
            git_remote="https://git.example/churn.git", commit="a" * 40, dirty=True,
            diff="--- a/train.py\n+++ b/train.py\n", diff_truncated=truncated,
            diff_sha256="b" * 64, entry_point="train.py")),
        ("environment_recorded", provenance_pb2.EnvironmentRecorded(
            python_version="3.11.9", packages=[provenance_pb2.Package(name="numpy", version="2.1.0")])),
        ("dataset_recorded", provenance_pb2.DatasetRecorded(
            name="train", uri=DATA_URI, digest=digest, manifest_digest=digest,
            file_count=1, role=common_pb2.DATA_ROLE_INPUT)),
        ("metrics", metrics_pb2.MetricBatch(series=[metrics_pb2.MetricSeries(
            key="loss", steps=range(len(losses)), values=losses,
            timestamps_ns=[1_000 + step for step in range(len(losses))])])),
        ("run_status_changed", runs_pb2.RunStatusChanged(status=runs_pb2.RUN_STATUS_FINISHED)),
    ]  # fmt: skip
    if tags:
        payloads.insert(2, ("tags_set", runs_pb2.TagsSet(tags=tags)))
    if reproduces:
        edge = lineage_pb2.LineageEdgeRecorded(
            source=lineage_pb2.LineageNode(kind=lineage_pb2.LINEAGE_NODE_KIND_RUN, id=run_id),
            relation=lineage_pb2.LINEAGE_RELATION_REPRODUCES,
            target=lineage_pb2.LineageNode(kind=lineage_pb2.LINEAGE_NODE_KIND_RUN, id=reproduces),
        )
        payloads.append(("lineage_edge_recorded", edge))
    events = [
        event(field, payload, run_id=run_id, sequence=n + 1, team="risk", project="churn")
        for n, (field, payload) in enumerate(payloads)
    ]
    return run_id, events


@pytest.fixture(scope="module")
def own_store(
    clickhouse_endpoint: ClickHouseEndpoint, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PortalStore]:
    """A database of its own (the demo's is shared and its tests count runs)."""
    root = tmp_path_factory.mktemp("reproduce-portal")
    database = f"ui_{uuid.uuid4().hex[:10]}"
    apply_migrations(connect(clickhouse_endpoint.url, database="default"), database)
    users_file = root / "portal-users.json"
    write_users_file(users_file)
    yield PortalStore(f"{clickhouse_endpoint.url}/{database}", database, users_file, root, {})
    connect(clickhouse_endpoint.url, database="default").command(
        f"DROP DATABASE IF EXISTS {database}"
    )


@pytest.fixture
def pages(own_store: PortalStore, monkeypatch: pytest.MonkeyPatch) -> Iterator[PageHarness]:
    """Pages on this module's store; Streamlit's process-wide read cache is keyed by caller, not
    by store, so it is emptied around each test to keep other modules' pages on theirs."""
    st.cache_data.clear()
    yield PageHarness(own_store, monkeypatch)
    st.cache_data.clear()


@pytest.fixture(scope="module")
def runs(own_store: PortalStore) -> dict[str, str]:
    portal_store = own_store
    original, a = _run(
        "repro-original", digest="sha256:" + "1" * 64, losses=[1.0, 0.5, 0.25], truncated=True
    )
    again, b = _run(
        "repro-again",
        digest="sha256:" + "1" * 64,
        losses=[1.0, 0.5, 0.25],
        truncated=False,
        reproduces=original,
    )
    later, c = _run("repro-later-data", digest="sha256:" + "2" * 64, losses=[2.0], truncated=False)
    project_events(portal_store.url, portal_store.database, [*a, *b, *c])
    return {"original": original, "again": again, "later": later}  # fmt: skip


def _text(app: AppTest) -> str:
    """What the page says, markdown escapes removed."""
    shown = [str(m.value) for m in app.markdown] + [str(c.value) for c in app.caption]
    return "\n".join(shown).replace("\\", "")


def test_the_original_shows_the_command_what_differs_today_and_its_reproduction(
    pages: PageHarness, runs: dict[str, str]
) -> None:
    app = pages.open("views/run.py", ALICE, {"id": runs["original"], "tab": "Reproduce"})
    assert not app.exception
    assert f"cairn reproduce {runs['original']}" in app.code[0].value
    text = _text(app)
    assert "uncommitted patch was truncated at capture" in text
    assert "has digest sha256:" + "2" * 64 + " in a later run" in text
    assert "no container image digest was recorded" in text
    assert f"Reproduced by {runs['again']}" in text
    assert f"Reproduced by {runs['again']}** · verdict: **identical**" in text
    frames = [frame.value for frame in app.dataframe]
    loss = frames[0].iloc[0]
    assert loss["metric"] == "loss"
    assert loss["max deviation over steps"] == 0.0
    assert loss["steps compared"] == 3


def test_the_reproduction_shows_the_report_against_its_original(
    pages: PageHarness, runs: dict[str, str]
) -> None:
    app = pages.open("views/run.py", ALICE, {"id": runs["again"], "tab": "Reproduce"})
    assert not app.exception
    assert f"This run reproduces {runs['original']}" in _text(app)


def test_another_team_sees_no_such_run(pages: PageHarness, runs: dict[str, str]) -> None:
    app = pages.open("views/run.py", CAROL, {"id": runs["original"], "tab": "Reproduce"})
    assert not app.code
    assert any("no such run" in str(e.value) for e in app.error)
