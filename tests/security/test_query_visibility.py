"""R1: the query layer shows a caller their teams' rows plus what is shared with them, on every
read path the portal, the query service and notebooks use, against the real store (the seeded
world of tests/query/integration/world.py: risk, vision and nlp, with shares across them).

For each caller, every read function is asked about the runs of every team, visible or not:
rows of runs the caller may not see never come back (absent, or NOT_FOUND for a single object),
and runs they may see do."""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.client import Client

from cairn_contract.errors import NotFoundError
from query.access import Caller
from query.collaboration import activity, comments, decisions
from query.compare import compare_runs
from query.lineage import Node, NodeKind, lineage
from query.models import models_overview
from query.provenance import model_provenance
from query.runs import count_runs, search_runs
from query.series import metric_series
from tests.query.integration.callers import ALICE, ALL_RUNS, CAROL, DAVE, STRANGER, VISIBLE_RUNS
from tests.query.integration.conftest import World, world  # noqa: F401 (the seeded world)

pytestmark = pytest.mark.integration

CALLERS = [ALICE, CAROL, DAVE, STRANGER]


def one_per_team(runs: set[str]) -> list[str]:
    """A run of each team among ``runs`` (the single-object reads are slow-ish: one is enough)."""
    return sorted(
        {
            min(r for r in runs if r.startswith(p))
            for p in ("r-", "v-", "n-")
            if any(r.startswith(p) for r in runs)
        }
    )


@pytest.fixture(scope="module")
def client(world: World) -> Client:  # noqa: F811
    return world.client()


@pytest.mark.parametrize("caller", CALLERS, ids=lambda c: c.user_id)
def test_every_read_path_shows_only_visible_runs(client: Client, caller: Caller) -> None:
    visible = VISIBLE_RUNS[caller]
    hidden = ALL_RUNS - visible
    found = search_runs(client, caller, limit=1000, columns=["run_id", "team"])
    assert set(found["run_id"]) == visible
    assert count_runs(client, caller) == len(visible)
    series = metric_series(client, caller, sorted(ALL_RUNS), ["loss", "val_acc"])
    assert set(series["run_id"]) <= visible
    assert set(series["run_id"]) & visible or not visible
    events = activity(client, caller, limit=1000)
    assert {a.aggregate_id for a in events if a.aggregate_kind == "run"} <= visible
    for run_id in one_per_team(hidden):
        assert comments(client, caller, "run", run_id) == ()
        assert decisions(client, caller, run_id=run_id) == ()
        with pytest.raises(NotFoundError):
            compare_runs(client, caller, [run_id])
        with pytest.raises(NotFoundError):
            lineage(client, caller, Node(NodeKind.RUN, run_id))
        assert activity(client, caller, run_id=run_id, limit=100) == ()


@pytest.mark.parametrize("caller", CALLERS, ids=lambda c: c.user_id)
def test_models_of_other_teams_are_absent_or_not_found(client: Client, caller: Caller) -> None:
    names = {m.name for m in models_overview(client, caller)}
    sees_detector = "v-det-1" in VISIBLE_RUNS[caller]  # vision's model, built by v-det-1
    assert ("detector" in names) == (caller in (CAROL, DAVE))
    if caller in (CAROL, DAVE):
        assert model_provenance(client, caller, "detector", 1).model.team == "vision"
        assert sees_detector
    else:
        with pytest.raises(NotFoundError):
            model_provenance(client, caller, "detector", 1)
