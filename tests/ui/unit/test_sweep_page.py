"""The Sweep page (``ui/views/sweep.py``) in ``streamlit.testing``, over sweeps recorded through
the SDK into the real write path (tests/query/integration/sweep_world.py): the list of sweeps,
one sweep's definition, best trial, trials and charts, the Pareto front of a two-objective
sweep, the link from a trial's run page, and nothing for another team."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from localstack.demo import write_users_file
from tests.pipeline import Pipeline, pipeline  # noqa: F401
from tests.query.integration.sweep_world import (
    PARETO_FRONT,
    TRIALS,
    RecordedWorld,
    best_plan,
    record_world,
)
from tests.ui.conftest import ALICE, CAROL, PageHarness, PortalStore
from ui.auth import Identity

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class SweepPortal:
    world: RecordedWorld
    store: PortalStore


@pytest.fixture(scope="module")
def portal(
    pipeline: Pipeline,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> SweepPortal:
    """The world recorded by the pipeline's team (Carol's team, ``vision``), and the portal's
    settings pointing at that pipeline's database."""
    root: Path = tmp_path_factory.mktemp("sweep-page")
    world = record_world(pipeline, pipeline.settings(root / "cairn", project="sweep-page"))
    users = root / "portal-users.json"
    write_users_file(users)
    database = pipeline.url.rsplit("/", 1)[1]
    return SweepPortal(world, PortalStore(pipeline.url, database, users, root / "artifacts", {}))


def open_page(
    portal: SweepPortal,
    monkeypatch: pytest.MonkeyPatch,
    page: str,
    params: dict[str, str] | None = None,
    who: Identity = CAROL,
) -> AppTest:
    return PageHarness(portal.store, monkeypatch).open(page, who, params)


def texts(app: AppTest) -> str:
    parts: list[str] = []
    for kind in ("title", "markdown", "caption", "error", "info", "warning", "subheader"):
        parts += [str(getattr(element, "value", "")) for element in getattr(app, kind)]
    return "\n".join(parts)


def links(app: AppTest) -> dict[str, str]:
    """Page links on the page: label -> query string."""
    return {link.proto.label: link.proto.query_string for link in app.get("page_link")}


def charts(app: AppTest) -> list[str]:
    return [chart.proto.spec for chart in app.get("plotly_chart")]


def test_sweep_page_shows_definition_best_trial_trials_and_charts(
    portal: SweepPortal, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = portal.world
    app = open_page(portal, monkeypatch, "views/sweep.py", {"sweep": world.sweep_run_id})
    assert not app.exception
    assert app.title[0].value == "lr-layers-sweep"
    shown = texts(app)
    for fact in ("TPESampler", "HyperbandPruner", "val\\_loss ↓", "12 of 12"):
        assert fact in shown
    assert {m.label: m.value for m in app.metric} == {
        "Running": "0",
        "Complete": "8",
        "Pruned": "3",
        "Failed": "1",
    }
    best = best_plan()
    assert f"Best trial #{best.number}" in shown
    assert links(app)["Open the best trial"] == f"id={world.trial_run_ids[best.number]}"
    table = app.dataframe[0].value
    assert list(table["number"]) == [t.number for t in TRIALS]
    assert list(table["state"]) == [t.state for t in TRIALS]
    assert {"lr", "layers", "optimizer", "val_loss", "pruned_step"} <= set(table.columns)
    specs = charts(app)
    assert len(specs) == 4  # history, intermediate values, parallel coordinates, importance
    history, intermediate, parallel, importance = specs
    assert "best so far" in history
    assert '"dash":"dot"' in intermediate.replace(" ", "")  # pruned trials drawn dotted
    assert "parcoords" in parallel
    assert "Param importance (fANOVA)" in importance


def test_sweeps_page_lists_the_sweeps_and_opens_the_one_picked(
    portal: SweepPortal, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = open_page(portal, monkeypatch, "views/sweep.py")
    assert not app.exception
    listed = app.dataframe[0].value
    assert set(listed["name"]) == {"lr-layers-sweep", "loss-vs-accuracy"}
    app.selectbox(key="sweep.pick").select(portal.world.sweep_run_id).run()
    assert app.query_params["sweep"] == portal.world.sweep_run_id
    assert app.title[0].value == "lr-layers-sweep"


def test_a_two_objective_sweep_shows_its_pareto_front(
    portal: SweepPortal, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = open_page(
        portal, monkeypatch, "views/sweep.py", {"sweep": portal.world.multi_sweep_run_id}
    )
    assert not app.exception
    assert f"Pareto front: {len(PARETO_FRONT)} trials" in texts(app)
    front = app.dataframe[0].value
    assert list(front["trial"]) == list(PARETO_FRONT)
    assert any("Pareto front" in spec for spec in charts(app))
    app.selectbox(key="sweep.objective").select("accuracy").run()
    assert app.query_params["objective"] == "accuracy"


def test_a_trials_run_page_links_to_its_sweep(
    portal: SweepPortal, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = portal.world
    app = open_page(portal, monkeypatch, "views/run.py", {"id": world.trial_run_ids[0]})
    assert not app.exception
    assert links(app)["Open the sweep"] == f"sweep={world.sweep_run_id}"
    plain = open_page(portal, monkeypatch, "views/run.py", {"id": world.plain_run_id})
    assert "Open the sweep" not in links(plain)


def test_another_team_sees_no_sweeps_and_cannot_open_one(
    portal: SweepPortal, monkeypatch: pytest.MonkeyPatch
) -> None:
    listing = open_page(portal, monkeypatch, "views/sweep.py", who=ALICE)
    assert "No sweeps yet" in texts(listing)
    app = open_page(
        portal, monkeypatch, "views/sweep.py", {"sweep": portal.world.sweep_run_id}, who=ALICE
    )
    assert not app.exception
    assert portal.world.sweep_run_id in app.error[0].value
    assert not app.dataframe
