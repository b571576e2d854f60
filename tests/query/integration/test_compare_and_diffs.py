"""compare_runs, diff_code, diff_environment and diff_datasets on the real engine."""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.client import Client

from cairn.errors import NotFoundError, ValidationError
from domain.diffs import Change, KeyValues
from query.compare import compare_runs
from query.diffs import diff_code, diff_datasets, diff_environment
from tests.query.integration.callers import ALICE, CAROL, DAVE, STRANGER
from tests.query.integration.world import COMMIT_A, COMMIT_B, EVAL, HOLDOUT, TRAIN_V1, TRAIN_V2

pytestmark = pytest.mark.integration


def test_compare_shows_only_differing_params_with_each_runs_value(client: Client) -> None:
    result = compare_runs(client, ALICE, ["r-churn-1", "r-churn-2"])
    assert result.run_ids == ("r-churn-1", "r-churn-2")
    assert result.params_differing == (
        KeyValues("lr", ("0.0001", "0.003")),
        KeyValues("optimizer", ("adam", "sgd")),
        KeyValues("use_amp", ("true", "false")),
    )
    assert result.params_common == (("batch_size", "64"),)


def test_compare_puts_metrics_tags_and_status_side_by_side(client: Client) -> None:
    result = compare_runs(client, ALICE, ["r-churn-1", "r-churn-4", "r-churn-5"])
    metrics = {m.key: m for m in result.metrics}
    assert metrics["val_acc"].last == (pytest.approx(0.93), pytest.approx(0.5), None)
    assert metrics["loss"].max == (100.0, None, None)
    assert metrics["loss"].last_step == (4999, None, None)
    assert [r.status for r in result.runs] == ["finished", "failed", "running"]
    assert result.runs[1].exit_code == 1
    assert result.runs[2].finished_at is None
    assert result.tags == ({"stage": "tuning"}, {"stage": "tuning"}, {})


def test_compare_shows_each_runs_code_environment_and_data_identity(client: Client) -> None:
    result = compare_runs(client, ALICE, ["r-churn-1", "r-churn-2"], parallel=False)
    one, two = result.identities
    assert one.code is not None
    assert two.code is not None
    assert (one.code.commit, two.code.commit) == (COMMIT_A, COMMIT_A)
    assert (one.code.dirty, two.code.dirty) == (False, True)
    assert one.environment is not None
    assert two.environment is not None
    assert one.environment.packages["numpy"] == "1.26.4"
    assert two.environment.python_version == "3.12.3"
    assert {d.digest for d in one.datasets} == {TRAIN_V1, EVAL}
    assert {d.name for d in two.datasets} == {"train", "eval", "holdout"}
    assert not result.same_code
    assert not result.same_environment
    assert not result.same_datasets
    same = compare_runs(client, ALICE, ["r-churn-1", "r-churn-1"])
    assert same.run_ids == ("r-churn-1",)
    assert same.same_code
    assert same.same_datasets


def test_compare_refuses_runs_the_caller_may_not_see(client: Client) -> None:
    with pytest.raises(NotFoundError, match="v-det-1"):
        compare_runs(client, ALICE, ["r-churn-1", "v-det-1"])
    with pytest.raises(NotFoundError):
        compare_runs(client, CAROL, ["r-churn-1"])
    with pytest.raises(NotFoundError, match="no-such-run"):
        compare_runs(client, ALICE, ["no-such-run"])
    assert compare_runs(client, ALICE, ["n-chat-1"]).runs[0].team == "nlp"  # shared with alice
    with pytest.raises(ValidationError):
        compare_runs(client, ALICE, [])
    with pytest.raises(ValidationError):
        compare_runs(client, ALICE, "r-churn-1")


def test_code_diff_of_two_patches_on_the_same_commit(client: Client) -> None:
    diff = diff_code(client, ALICE, "r-churn-1", "r-churn-2")
    assert diff.same_commit
    assert not diff.same_patch
    assert not diff.identical
    assert "++lr = 3e-3" in diff.patch_diff
    assert "+-lr = 1e-4" in diff.patch_diff
    assert diff.compare_url is None
    assert diff_code(client, ALICE, "r-churn-1", "r-churn-1").identical


def test_code_diff_across_commits_links_the_forge(client: Client) -> None:
    diff = diff_code(client, ALICE, "r-churn-1", "r-churn-3")
    assert not diff.same_commit
    assert diff.same_patch
    assert diff.patch_diff == ""
    assert diff.compare_url == f"https://github.com/acme/churn/compare/{COMMIT_A}...{COMMIT_B}"
    missing = diff_code(client, ALICE, "r-churn-1", "r-churn-4")
    assert missing.code_b is None
    assert not missing.same_commit


def test_environment_diff_lists_added_removed_and_changed_packages(client: Client) -> None:
    diff = diff_environment(client, ALICE, "r-churn-1", "r-churn-2")
    assert diff.packages.added == (("pandas", "2.2.2"),)
    assert diff.packages.removed == (("scikit-learn", "1.4.0"),)
    assert diff.packages.changed == (Change("numpy", "1.26.4", "2.0.1"),)
    assert diff.packages.unchanged == 1
    assert diff.fields == (Change("python_version", "3.11.9", "3.12.3"),)
    assert not diff.identical
    assert diff_environment(client, ALICE, "r-churn-1", "r-churn-1").identical


def test_dataset_diff_matches_by_role_and_name_and_compares_digests(client: Client) -> None:
    diff = diff_datasets(client, ALICE, "r-churn-1", "r-churn-2").datasets
    assert [(c.name, c.before.digest, c.after.digest) for c in diff.changed] == [
        ("train", TRAIN_V1, TRAIN_V2)
    ]
    assert diff.changed[0].manifest_changed
    assert [d.digest for d in diff.added] == [HOLDOUT]
    assert diff.removed == ()
    assert [d.name for d in diff.unchanged] == ["eval"]


@pytest.mark.parametrize("function", [diff_code, diff_environment, diff_datasets])
def test_diffs_refuse_runs_the_caller_may_not_see(client: Client, function: object) -> None:
    with pytest.raises(NotFoundError):
        function(client, ALICE, "r-churn-1", "v-det-1")  # type: ignore[operator]
    with pytest.raises(NotFoundError):
        function(client, CAROL, "r-churn-1", "r-churn-2")  # type: ignore[operator]
    with pytest.raises(NotFoundError):
        function(client, STRANGER, "n-chat-1", "n-chat-1")  # type: ignore[operator]
    function(client, DAVE, "v-det-1", "n-chat-1")  # type: ignore[operator]
