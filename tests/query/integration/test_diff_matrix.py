"""diff_matrix (runs x code/environment/data fields) and compare_runs(partial=True) on the real
engine: what differs from the baseline, and that a run the caller may not see adds nothing."""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.client import Client

from cairn.errors import NotFoundError, ValidationError
from query.compare import compare_runs
from query.diff_matrix import DiffMatrix, MatrixColumn, diff_matrix
from tests.query.integration.callers import ALICE, CAROL, STRANGER
from tests.query.integration.world import COMMIT_A, COMMIT_B, TRAIN_V1, TRAIN_V2

pytestmark = pytest.mark.integration


def _column(matrix: DiffMatrix, kind: str, name: str) -> MatrixColumn:
    (found,) = [c for c in matrix.columns if (c.kind, c.name) == (kind, name)]
    return found


def test_the_matrix_marks_what_differs_from_the_first_run(client: Client) -> None:
    matrix = diff_matrix(client, ALICE, ["r-churn-1", "r-churn-2", "r-churn-3"])
    assert matrix.run_ids == ("r-churn-1", "r-churn-2", "r-churn-3")
    assert matrix.baseline == "r-churn-1"
    commit = _column(matrix, "code", "commit")
    assert commit.values == (COMMIT_A, COMMIT_A, COMMIT_B)
    assert matrix.differs(commit) == (False, False, True)
    dirty = _column(matrix, "code", "dirty")
    assert matrix.differs(dirty) == (False, True, False)
    numpy = _column(matrix, "packages", "numpy")
    assert numpy.values == ("1.26.4", "2.0.1", "")  # churn-3 recorded no environment
    assert _column(matrix, "environment", "python_version").values == ("3.11.9", "3.12.3", "")
    assert matrix.differs(_column(matrix, "packages", "torch")) == (False, False, True)
    train = [c for c in matrix.of_kind("datasets") if c.name.endswith(": train")]
    assert [c.values for c in train] == [(TRAIN_V1, TRAIN_V2, TRAIN_V1)]
    assert matrix.recorded["environment"] == (True, True, False)
    assert matrix.differing_runs("code") == 2
    assert ("code", "entry_point") in {(c.kind, c.name) for c in matrix.same}


def test_the_baseline_can_be_any_compared_run(client: Client) -> None:
    matrix = diff_matrix(
        client, ALICE, ["r-churn-1", "r-churn-2", "r-churn-3"], baseline="r-churn-3"
    )
    assert matrix.differs(_column(matrix, "code", "commit")) == (True, True, False)
    with pytest.raises(ValidationError, match="baseline"):
        diff_matrix(client, ALICE, ["r-churn-1", "r-churn-2"], baseline="r-churn-3")


def test_an_invisible_run_contributes_nothing_and_is_only_counted(client: Client) -> None:
    # v-det-1 (vision) recorded torch 2.3.0 and a dataset of its own: alice must see neither.
    matrix = diff_matrix(client, ALICE, ["r-churn-1", "v-det-1", "no-such-run"])
    assert matrix.run_ids == ("r-churn-1",)
    assert matrix.hidden == 2
    assert matrix.columns == ()
    values = {v for c in matrix.same for v in c.values}
    assert "2.3.0" not in values
    assert not any(c.name.endswith(": images") for c in matrix.same)
    with pytest.raises(ValidationError, match="baseline"):
        diff_matrix(client, ALICE, ["r-churn-1", "v-det-1"], baseline="v-det-1")
    with pytest.raises(NotFoundError):
        diff_matrix(client, STRANGER, ["r-churn-1", "v-det-1"])
    assert diff_matrix(client, CAROL, ["r-churn-1", "v-det-1"]).run_ids == ("v-det-1",)


def test_a_partial_comparison_shows_the_visible_runs_and_counts_the_rest(client: Client) -> None:
    result = compare_runs(client, ALICE, ["r-churn-1", "v-det-1", "r-churn-2"], partial=True)
    assert result.run_ids == ("r-churn-1", "r-churn-2")
    assert result.hidden == 1
    assert [r.team for r in result.runs] == ["risk", "risk"]
    assert len(result.identities) == 2
    assert all(len(m.last) == 2 for m in result.metrics)
    assert result.environment_recorded == 2
    with pytest.raises(NotFoundError):
        compare_runs(client, ALICE, ["v-det-1"], partial=True)
    with pytest.raises(NotFoundError, match="v-det-1"):
        compare_runs(client, ALICE, ["r-churn-1", "v-det-1"])  # strict by default


def test_no_run_recorded_an_environment(client: Client) -> None:
    result = compare_runs(client, ALICE, ["r-churn-3", "r-churn-4"])
    assert result.environment_recorded == 0
    assert not result.same_environment
    matrix = diff_matrix(client, ALICE, ["r-churn-3", "r-churn-4"])
    assert matrix.recorded["environment"] == (False, False)
    assert matrix.of_kind("environment", "packages") == ()
