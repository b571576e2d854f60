"""lineage and model_provenance on the real engine, including what other teams must not see."""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.client import Client

from cairn.errors import NotFoundError, ValidationError
from query.lineage import Node, lineage
from query.provenance import model_provenance
from tests.query.integration.callers import ADMIN, ALICE, CAROL, DAVE, STRANGER
from tests.query.integration.world import (
    ARTIFACT_1,
    ARTIFACT_2,
    EVAL,
    HOLDOUT,
    TRAIN_V1,
    TRAIN_V2,
    VISION_DATA,
)

pytestmark = pytest.mark.integration

CHURN_V2 = Node("model_version", "churn-model", 2)


def depths(graph: object) -> dict[tuple[str, str, int], int]:
    return {(n.node.kind, n.node.id, n.node.version): n.depth for n in graph.nodes}  # type: ignore[attr-defined]


def test_upstream_of_a_model_version_walks_runs_data_and_artifacts(client: Client) -> None:
    graph = lineage(client, ALICE, CHURN_V2, "upstream", 5)
    assert depths(graph) == {
        ("model_version", "churn-model", 2): 0,
        ("run", "r-churn-2", 0): 1,
        ("dataset", TRAIN_V2, 0): 2,
        ("dataset", EVAL, 0): 2,
        ("dataset", HOLDOUT, 0): 2,
        ("artifact", ARTIFACT_1, 0): 2,
        ("run", "r-churn-1", 0): 3,
        ("dataset", TRAIN_V1, 0): 4,
    }
    assert graph.nodes[0].node == CHURN_V2
    assert not graph.truncated
    names = {n.node.id: n.name for n in graph.nodes}
    assert names[HOLDOUT] == "holdout"
    assert names[ARTIFACT_1] == "model.pt"
    assert set(graph.upstream_of(Node("run", "r-churn-2"))) == {
        Node("dataset", TRAIN_V2),
        Node("dataset", EVAL),
        Node("dataset", HOLDOUT),
        Node("artifact", ARTIFACT_1),
    }
    relations = {(e.source.id, e.relation, e.target.id) for e in graph.edges}
    assert ("churn-model", "built_by", "r-churn-2") in relations
    assert ("r-churn-1", "produced", ARTIFACT_1) in relations


def test_depth_bounds_the_walk(client: Client) -> None:
    graph = lineage(client, ALICE, CHURN_V2, "upstream", 2)
    assert max(depths(graph).values()) == 2
    assert ("run", "r-churn-1", 0) not in depths(graph)


def test_downstream_of_shared_data_shows_only_visible_runs(client: Client) -> None:
    mine = depths(lineage(client, ALICE, Node("dataset", EVAL), "downstream", 3))
    assert mine[("run", "r-churn-1", 0)] == 1
    assert mine[("run", "r-churn-2", 0)] == 1
    assert mine[("artifact", ARTIFACT_2, 0)] == 2
    assert mine[("model_version", "churn-model", 1)] == 2
    assert ("run", "v-det-2", 0) not in mine  # vision's run on the same data
    theirs = depths(lineage(client, CAROL, Node("dataset", EVAL), "downstream", 3))
    assert set(theirs) == {("dataset", EVAL, 0), ("run", "v-det-2", 0)}
    everyone = depths(lineage(client, ADMIN, Node("dataset", EVAL), "downstream", 1))
    assert ("run", "v-det-2", 0) in everyone
    assert ("run", "r-churn-1", 0) in everyone
    nothing = lineage(client, STRANGER, Node("dataset", EVAL), "downstream", 3)
    assert len(nothing.nodes) == 1
    assert nothing.edges == ()


def test_both_directions(client: Client) -> None:
    graph = depths(lineage(client, ALICE, Node("artifact", ARTIFACT_1), "both", 1))
    assert graph == {
        ("artifact", ARTIFACT_1, 0): 0,
        ("run", "r-churn-1", 0): 1,
        ("run", "r-churn-2", 0): 1,
    }


def test_roots_the_caller_may_not_see_are_not_found(client: Client) -> None:
    with pytest.raises(NotFoundError):
        lineage(client, CAROL, Node("run", "r-churn-1"))
    with pytest.raises(NotFoundError):
        lineage(client, CAROL, CHURN_V2)
    with pytest.raises(NotFoundError):
        lineage(client, ALICE, Node("model_version", "detector-model", 1))
    graph = depths(lineage(client, DAVE, Node("model_version", "detector-model", 1)))
    assert ("dataset", VISION_DATA, 0) in graph  # vision/detector is shared with nlp


@pytest.mark.parametrize(
    "kwargs",
    [{"depth": 0}, {"depth": 11}, {"direction": "sideways"}, {"node": Node("team", "risk")}],
)
def test_lineage_arguments_are_checked(client: Client, kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"node": Node("run", "r-churn-1")} | kwargs
    with pytest.raises(ValidationError):
        lineage(client, ALICE, **args)  # type: ignore[arg-type]


def test_provenance_of_the_production_model_explains_how_it_was_built(client: Client) -> None:
    p = model_provenance(client, ALICE, "churn", "production")
    assert (p.model.model_id, p.model.name, p.model.version) == ("churn-model", "churn", 2)
    assert p.model.stage == "production"
    assert p.model.aliases == ("champion",)
    assert p.run is not None
    assert p.run.run_id == "r-churn-2"
    assert p.run.owner == "bob"
    assert p.params["optimizer"] == "sgd"
    assert p.metrics["val_acc"].last == pytest.approx(0.88)
    assert p.code is not None
    assert p.code.dirty
    assert p.environment is not None
    assert p.environment.python_version == "3.12.3"
    assert {(d.name, d.digest) for d in p.datasets} == {
        ("train", TRAIN_V2),
        ("eval", EVAL),
        ("holdout", HOLDOUT),
    }
    assert [r.run_id for r in p.ancestor_runs] == ["r-churn-1"]
    assert ("train", TRAIN_V1) in p.upstream_datasets
    assert p.hidden_ancestors == 0
    assert [(s.kind, s.name, s.reason) for s in p.stage_history] == [
        ("stage", "none", "registered"),
        ("stage", "production", "best holdout"),
        ("alias", "champion", ""),
    ]
    assert [c.comment_id for c in p.comments] == ["c5"]
    assert [d.decision_id for d in p.decisions] == ["d1"]
    kinds = [a.event_type for a in p.timeline]
    assert kinds.index("run_created") < kinds.index("model_version_created")
    assert "model_version_stage_changed" in kinds
    assert "metrics" not in kinds
    assert [a.occurred_at for a in p.timeline] == sorted(a.occurred_at for a in p.timeline)


def test_a_model_version_is_found_by_id_number_alias_or_stage(client: Client) -> None:
    for model, version in (
        ("churn-model", 2),
        ("churn", "champion"),
        ("churn-model", "production"),
    ):
        assert model_provenance(client, ALICE, model, version).model.version == 2
    first = model_provenance(client, ALICE, "churn", 1)
    assert first.run is not None
    assert first.run.run_id == "r-churn-1"
    assert first.ancestor_runs == ()
    bodies = {c.comment_id: c.body_markdown for c in first.comments}
    assert bodies == {"c1": "plateau at 3k steps (edited)", "c2": "lr decay fixes it", "c3": ""}


def test_provenance_of_other_teams_models_is_not_found(client: Client) -> None:
    with pytest.raises(NotFoundError):
        model_provenance(client, CAROL, "churn", "production")
    with pytest.raises(NotFoundError):
        model_provenance(client, ALICE, "detector", 1)
    with pytest.raises(NotFoundError):
        model_provenance(client, ALICE, "churn", 7)
    detector = model_provenance(client, CAROL, "detector", "production")
    assert detector.run is not None
    assert detector.run.run_id == "v-det-1"
    assert [c.comment_id for c in detector.comments] == ["c4"]
    assert [d.decision_id for d in detector.decisions] == ["d2"]
