"""search_runs on the real engine: the filter language end to end, ordering, paging, columns,
team scoping, and random input that must never become anything but a parse error or a query."""

from __future__ import annotations

import contextlib
import math

import pytest
from clickhouse_connect.driver.client import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cairn.errors import ValidationError
from domain.filters import FilterError
from query.access import Caller
from query.runs import count_runs, search_runs
from tests.query.integration.callers import (
    ADMIN,
    ALICE,
    ALL_RUNS,
    CAROL,
    DAVE,
    RISK_RUNS,
    STRANGER,
    VISIBLE_RUNS,
)
from tests.query.integration.conftest import World

pytestmark = pytest.mark.integration


def ids(client: Client, caller: Caller, filter: str | None, **kw: object) -> list[str]:
    df = search_runs(client, caller, filter, limit=1000, columns=["run_id"], **kw)  # type: ignore[arg-type]
    return list(df["run_id"])


def test_the_issue_example_finds_the_tuned_finished_run_of_this_month(
    client: Client, world: World
) -> None:
    month = world.clock.now.strftime("%Y-%m-01")
    text = (
        "params.lr < 1e-3 and metrics.val_acc > 0.9 and tags.stage = 'tuning'"
        f" and status = 'finished' and created > '{month}'"
    )
    assert ids(client, ALICE, text) == ["r-churn-1"]


@pytest.mark.parametrize("caller", [ALICE, CAROL, DAVE, ADMIN, STRANGER])
def test_each_caller_sees_exactly_their_teams_runs_and_what_was_shared(
    client: Client, caller: Caller
) -> None:
    found = ids(client, caller, None)
    assert sorted(found) == sorted(VISIBLE_RUNS[caller])
    assert len(found) == len(set(found))  # redelivered events never duplicate a run
    assert count_runs(client, caller) == len(VISIBLE_RUNS[caller])


def test_filters_cannot_reach_other_teams_runs(client: Client) -> None:
    assert ids(client, ALICE, "team = 'vision'") == []
    assert ids(client, ALICE, "run_id = 'v-det-2'") == []  # shared, then unshared
    assert ids(client, CAROL, "run_id in ('r-churn-1', 'n-chat-1') or team = 'risk'") == []
    assert ids(client, ALICE, "run_id = 'n-chat-1'") == ["n-chat-1"]  # shared with alice
    assert sorted(ids(client, DAVE, "team = 'vision'")) == ["v-det-1", "v-det-2"]


def test_and_binds_tighter_than_or(client: Client) -> None:
    loose = "status = 'failed' or status = 'running' and owner = 'alice'"
    grouped = "(status = 'failed' or status = 'running') and owner = 'alice'"
    assert sorted(ids(client, ALICE, loose)) == ["r-churn-4", "r-churn-5"]
    assert ids(client, ALICE, grouped) == ["r-churn-5"]


def test_comparisons_on_missing_keys_are_false_and_not_negates_them(client: Client) -> None:
    assert ids(client, ALICE, "params.use_amp = true") == ["r-churn-1"]
    assert sorted(ids(client, ALICE, "not params.use_amp = true")) == sorted(
        VISIBLE_RUNS[ALICE] - {"r-churn-1"}
    )
    assert ids(client, ALICE, "metrics.val_acc is null") == ["r-churn-5"]
    assert ids(client, ALICE, "finished is null") == ["r-churn-5"]
    assert sorted(ids(client, ALICE, "tags.stage is null")) == ["r-churn-5"]


def test_in_like_and_numeric_params(client: Client) -> None:
    assert sorted(ids(client, ALICE, "name like 'r-credit%'")) == ["r-credit-1"]
    assert sorted(ids(client, ALICE, "name ilike 'R-CREDIT%'")) == ["r-credit-1"]
    assert sorted(ids(client, ALICE, "params.optimizer in ('adamw')")) == ["n-chat-1", "r-credit-1"]
    assert sorted(ids(client, ALICE, "params.batch_size >= 100")) == ["r-churn-3"]
    assert ids(client, ALICE, "params.model.layers = 4") == ["r-credit-1"]
    assert ids(client, ALICE, "params.optimizer not in ('adam', 'sgd', 'adamw')") == []
    assert sorted(ids(client, ALICE, "params.lr in (0.0001, 0.003)")) == ["r-churn-1", "r-churn-2"]


def test_metric_min_max_and_slashed_keys(client: Client) -> None:
    assert ids(client, ALICE, "metrics_max.loss > 99") == ["r-churn-1"]
    assert ids(client, ALICE, "metrics_min.loss < -49") == ["r-churn-1"]
    assert sorted(ids(client, ALICE, "metrics.train/loss < 0.08")) == ["r-churn-1", "r-churn-3"]


def test_times_owner_transfers_and_booleans(client: Client, world: World) -> None:
    month = world.clock.now.strftime("%Y-%m-01")
    assert sorted(ids(client, ALICE, f"created < '{month}'")) == ["r-churn-3"]
    assert sorted(ids(client, ALICE, "owner = 'bob'")) == [
        "r-churn-2",
        "r-churn-3",
        "r-churn-4",
        "r-credit-1",
    ]
    assert ids(client, ALICE, "created_by = 'alice' and owner = 'bob'") == ["r-churn-3"]
    assert ids(client, ALICE, "exit_code = 1") == ["r-churn-4"]
    assert len(ids(client, ALICE, "archived = false")) == len(VISIBLE_RUNS[ALICE])
    assert sorted(ids(client, ALICE, "duration > 50")) == sorted(
        {"r-churn-1", "r-churn-2", "r-churn-3", "r-credit-1", "n-chat-1"}
    )


def test_order_by_a_metric_puts_runs_without_it_last(client: Client) -> None:
    found = ids(client, ALICE, None, order_by="metrics.val_acc desc")
    assert found == [
        "r-churn-3",
        "r-churn-1",
        "r-credit-1",
        "r-churn-2",
        "n-chat-1",
        "r-churn-4",
        "r-churn-5",
    ]
    ascending = ids(client, ALICE, None, order_by=["metrics.val_acc asc"])
    assert ascending[:-1] == list(reversed(found[:-1]))
    assert ascending[-1] == "r-churn-5"


def test_paging_with_limit_and_offset(client: Client) -> None:
    everything = ids(client, ADMIN, None, order_by="run_id")
    assert everything == sorted(ALL_RUNS)
    page = search_runs(
        client, ADMIN, None, order_by="run_id", limit=3, offset=3, columns=["run_id"]
    )
    assert list(page["run_id"]) == everything[3:6]
    with pytest.raises(ValidationError):
        search_runs(client, ADMIN, limit=0)
    with pytest.raises(ValidationError):
        search_runs(client, ADMIN, offset=-1)


def test_default_and_chosen_columns(client: Client) -> None:
    df = search_runs(client, ALICE, "run_id = 'r-churn-3'")
    assert list(df.columns) == [
        "run_id",
        "team",
        "project",
        "name",
        "owner",
        "status",
        "created",
        "finished",
    ]
    row = df.iloc[0]
    assert (row["team"], row["project"], row["owner"], row["status"]) == (
        "risk",
        "churn",
        "bob",
        "finished",
    )
    df = search_runs(
        client,
        ALICE,
        "project = 'churn' and status != 'running'",
        order_by="run_id",
        columns=[
            "run_id",
            "params.lr",
            "params.use_amp",
            "metrics.val_acc",
            "tags.stage",
            "duration",
        ],
    )
    assert list(df.columns) == [
        "run_id",
        "params.lr",
        "params.use_amp",
        "metrics.val_acc",
        "tags.stage",
        "duration",
    ]
    first = df.iloc[0].to_dict()
    assert first["run_id"] == "r-churn-1"
    assert float(first["params.lr"]) == pytest.approx(1e-4)
    assert first["params.use_amp"] == "true"
    assert first["metrics.val_acc"] == pytest.approx(0.93)
    assert first["tags.stage"] == "tuning"
    third = df.iloc[2].to_dict()  # r-churn-3 never logged use_amp
    assert third["params.use_amp"] is None or (
        isinstance(third["params.use_amp"], float) and math.isnan(third["params.use_amp"])
    )


def test_bad_specs_are_filter_errors_with_positions(client: Client) -> None:
    with pytest.raises(FilterError) as caught:
        search_runs(client, ALICE, "params.lr < and status = 'x'")
    assert caught.value.position == 12
    with pytest.raises(FilterError):
        search_runs(client, ALICE, order_by="metrics.loss sideways")
    with pytest.raises(FilterError):
        search_runs(client, ALICE, columns=["nonsense"])
    with pytest.raises(ValidationError):
        search_runs(client, ALICE, columns=[])


_PIECES = st.sampled_from(
    [
        "status",
        "params.lr",
        "params.`x y`",
        "metrics.val_acc",
        "metrics_max.loss",
        "tags.stage",
        "created",
        "finished",
        "archived",
        "name",
        "owner",
        "duration",
        " and ",
        " or ",
        " not ",
        "(",
        ")",
        " = ",
        " < ",
        " >= ",
        " != ",
        " in ",
        " like ",
        " ilike ",
        " is ",
        " null ",
        "'x'",
        "'2026-01-01'",
        "1e-3",
        "-42",
        "true",
        ",",
        "'",
        '"',
        ";",
        "--",
        "/*",
        "\\",
        "'); DROP TABLE runs; --",
        "{f0:String}",
        "`",
        "' OR 1=1 --",
    ]
)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.one_of(st.text(max_size=40), st.lists(_PIECES, max_size=10).map("".join)))
def test_random_filters_are_a_parse_error_or_a_valid_query(client: Client, text: str) -> None:
    try:
        found = ids(client, ALICE, text)
    except FilterError:
        return
    # A query ran (no engine error) and stayed inside alice's visibility.
    assert set(found) <= VISIBLE_RUNS[ALICE]


def test_the_store_is_intact_after_hostile_filters(client: Client) -> None:
    for text in (
        "name = ''; DROP TABLE run_fields; --'",
        "name = '\\'; DROP TABLE run_fields; --'",
        "params.`'; DROP TABLE params; --` = 1",
        "tags.`x`` = 1",
    ):
        with contextlib.suppress(FilterError):
            ids(client, ALICE, text)
    assert sorted(ids(client, ALICE, None)) == sorted(VISIBLE_RUNS[ALICE])
    assert set(ids(client, ADMIN, None)) >= RISK_RUNS
