"""metric_series on the real engine: downsampling bounds, shape and the last point, x by time,
smoothing, and visibility."""

from __future__ import annotations

import numpy as np
import pytest
from clickhouse_connect.driver.client import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cairn.errors import ValidationError
from query.migrations import MIGRATIONS, apply_migrations
from query.series import ema, metric_against, metric_series
from tests.query.integration.callers import ADMIN, ALICE, CAROL, STRANGER
from tests.query.integration.conftest import World
from tests.query.integration.world import (
    DIP_STEP,
    LOSS_STEPS,
    RELOGGED_SPIKE,
    SPIKE_STEP,
    loss_value,
)

pytestmark = pytest.mark.integration


def loss(client: Client, max_points: int, **kw: object) -> tuple[np.ndarray, np.ndarray]:
    df = metric_series(client, ALICE, ["r-churn-1"], ["loss"], max_points, **kw)  # type: ignore[arg-type]
    return df["step"].to_numpy(), df["value"].to_numpy()


@pytest.mark.parametrize("max_points", [3, 4, 10, 101, 1000, 2499, 4999])
def test_each_series_has_at_most_max_points_and_keeps_the_last_point(
    client: Client, max_points: int
) -> None:
    steps, values = loss(client, max_points)
    assert 2 <= len(steps) <= max_points
    assert steps[-1] == LOSS_STEPS - 1
    assert np.all(np.diff(steps) > 0)  # in x order, each step once
    # every returned point is a real point of the series
    assert np.allclose(values, [loss_value(int(s)) for s in steps])


@pytest.mark.parametrize("max_points", [3, 50, 1000])
def test_spikes_and_dips_survive_downsampling(client: Client, max_points: int) -> None:
    steps, values = loss(client, max_points)
    assert SPIKE_STEP in steps
    assert DIP_STEP in steps
    assert values.max() == 100.0
    assert values.min() == -50.0
    if max_points == 3:
        assert list(steps) == [SPIKE_STEP, DIP_STEP, LOSS_STEPS - 1]


def test_a_series_shorter_than_the_budget_comes_back_whole(client: Client) -> None:
    steps, _ = loss(client, LOSS_STEPS + 10)
    assert list(steps) == list(range(LOSS_STEPS))
    df = metric_series(client, ALICE, ["r-churn-1"], ["val_acc"], 1000)
    # the batch holding val_acc was delivered twice; each step still appears once
    assert list(df["step"]) == [0, 50, 100]
    assert list(df["value"]) == pytest.approx([0.1, 0.515, 0.93])


def test_many_runs_and_keys_in_one_call(client: Client) -> None:
    runs = ["r-churn-1", "r-churn-2", "r-credit-1", "n-chat-1"]
    df = metric_series(client, ALICE, runs, ["val_acc", "train/loss", "loss"], 10)
    sizes = df.groupby(["run_id", "key"]).size().to_dict()
    assert sizes[("r-churn-1", "loss")] <= 10
    assert sizes[("r-churn-2", "val_acc")] == 3
    assert sizes[("n-chat-1", "train/loss")] == 2  # shared with alice
    assert ("r-churn-2", "loss") not in sizes  # never logged: simply absent
    assert list(df.columns) == ["run_id", "key", "step", "timestamp", "value"]


def test_x_by_time_buckets_on_timestamps(client: Client) -> None:
    df = metric_series(client, ALICE, ["r-churn-1"], ["loss"], 101, x="time")
    times = df["timestamp"].astype("int64").to_numpy()
    assert len(df) <= 101
    assert np.all(np.diff(times) >= 0)
    assert df["step"].iloc[-1] == LOSS_STEPS - 1  # the last point in time
    assert 100.0 in set(df["value"])
    assert -50.0 in set(df["value"])


def test_smoothing_adds_a_debiased_ema_beside_the_raw_values(client: Client) -> None:
    df = metric_series(client, ALICE, ["r-churn-1", "r-churn-2"], ["val_acc"], 100, smoothing=0.5)
    assert list(df.columns)[-1] == "smoothed"
    first = df[df["run_id"] == "r-churn-1"]
    assert first["smoothed"].iloc[0] == pytest.approx(first["value"].iloc[0])  # debiased start
    assert list(first["smoothed"]) == pytest.approx(list(ema(first["value"].to_numpy(), 0.5)))
    other = df[df["run_id"] == "r-churn-2"]
    assert other["smoothed"].iloc[0] == pytest.approx(0.1)  # series are smoothed separately
    unsmoothed = metric_series(client, ALICE, ["r-churn-1"], ["val_acc"], 100, smoothing=0.0)
    assert list(unsmoothed["smoothed"]) == pytest.approx(list(unsmoothed["value"]))


def test_ema_skips_nan_points() -> None:
    out = ema(np.array([1.0, np.nan, 3.0]), 0.5)
    assert out[0] == 1.0
    assert np.isnan(out[1])
    assert out[2] == pytest.approx((0.25 * 1 + 0.5 * 3) / 0.75)


def test_other_teams_series_never_appear(client: Client) -> None:
    df = metric_series(client, ALICE, ["r-churn-1", "v-det-1", "v-det-2"], ["val_acc"], 100)
    assert set(df["run_id"]) == {"r-churn-1"}
    assert metric_series(client, CAROL, ["r-churn-1"], ["val_acc", "loss"], 100).empty
    assert metric_series(client, STRANGER, ["n-chat-1"], ["val_acc"], 100).empty
    assert set(metric_series(client, ADMIN, ["v-det-1"], ["val_acc"], 100)["run_id"]) == {"v-det-1"}


def test_arguments_are_checked(client: Client) -> None:
    for bad in (
        {"max_points": 2},
        {"max_points": 10**9},
        {"x": "epoch"},
        {"smoothing": 1.0},
    ):
        with pytest.raises(ValidationError):
            metric_series(client, ALICE, ["r-churn-1"], ["loss"], **bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        metric_series(client, ALICE, "r-churn-1", ["loss"])
    assert metric_series(client, ALICE, [], ["loss"]).empty


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.integers(min_value=3, max_value=6000), st.sampled_from(["step", "time"]))
def test_downsampling_bounds_hold_for_any_budget(client: Client, max_points: int, x: str) -> None:
    df = metric_series(client, ALICE, ["r-churn-1"], ["loss"], max_points, x=x)  # type: ignore[arg-type]
    assert len(df) <= max_points
    assert df["step"].iloc[-1] == LOSS_STEPS - 1
    assert len(set(df["step"])) == len(df)


def test_metric_bounds_are_backfilled_then_kept_current_on_insert(world: World) -> None:
    """Migration 4 fills metric_bounds from the points already stored; its materialized view
    keeps it current; duplicate inserts change nothing."""
    admin = world.client()
    database = f"{world.database}_bounds"
    admin.command(f"DROP DATABASE IF EXISTS `{database}` SYNC")
    try:
        apply_migrations(admin, database, MIGRATIONS[:3])
        rows = [["r", "loss", step, step * 1_000_000_000, float(step), 1] for step in (5, 9, 7)]
        columns = ["run_id", "key", "step", "timestamp", "value", "sequence"]
        admin.insert("metrics", rows, column_names=columns, database=database)
        applied = apply_migrations(admin, database, MIGRATIONS[:4])
        assert [m.name for m in applied] == ["series_downsampling"]
        admin.insert(
            "metrics",
            [["r", "loss", 12, 12_000_000_000, 1.0, 1]] * 2,
            column_names=columns,
            database=database,
        )
        bounds = admin.query(
            f"SELECT min(min_step), max(max_step), toUnixTimestamp(min(min_time)) FROM `{database}`.metric_bounds"
        ).result_rows[0]
        assert bounds == (5, 12, 5)
    finally:
        admin.command(f"DROP DATABASE IF EXISTS `{database}` SYNC")
        admin.command(f"DROP DATABASE IF EXISTS `{database}_reporting` SYNC")


@pytest.mark.parametrize("max_points", [3, 11, 101, 999])
def test_relogged_steps_show_only_their_latest_values(client: Client, max_points: int) -> None:
    """A resumed run logged steps again: the fast rollup would remember the replaced spike,
    so such series are downsampled from the points themselves."""
    df = metric_series(client, ALICE, ["r-churn-1"], ["resumed"], max_points)
    assert RELOGGED_SPIKE not in set(df["value"])
    assert df["value"].max() == 2.0
    assert df["value"].min() == 1.0
    assert len(df) <= max_points
    assert df["step"].iloc[-1] == LOSS_STEPS - 1


def test_long_clean_series_take_the_rollup_and_still_return_exact_points(client: Client) -> None:
    """Budgets that make buckets of 64+ steps read the rollup; the points are the same kind:
    real points, the extremes, the last point."""
    for max_points in (3, 21, 77):
        steps, values = loss(client, max_points)
        assert len(steps) <= max_points
        assert np.allclose(values, [loss_value(int(s)) for s in steps])
        assert {SPIKE_STEP, DIP_STEP, LOSS_STEPS - 1} <= set(steps.tolist())


def test_a_metric_against_another_pairs_the_points_logged_at_the_same_step(client: Client) -> None:
    df = metric_against(client, ALICE, ["r-churn-1", "r-churn-2"], ["val_acc"], "train/loss")
    assert list(df.columns) == ["run_id", "key", "step", "x", "value", "bucket"]
    churn1 = df[df["run_id"] == "r-churn-1"]
    assert list(churn1["step"]) == [0, 100]  # train/loss has no point at step 50
    assert list(churn1["x"]) == pytest.approx([2.0, 1.0 - churn1["value"].iloc[-1]])
    assert churn1["value"].iloc[0] == pytest.approx(0.1)
    assert set(df["run_id"]) == {"r-churn-1", "r-churn-2"}


def test_a_long_metric_against_another_is_downsampled_keeping_extremes(client: Client) -> None:
    # loss (5,000 steps) against itself: x equals the value, at most max_points per series
    df = metric_against(client, ALICE, ["r-churn-1"], ["loss"], "loss", max_points=101)
    assert len(df) <= 101
    assert list(df["x"]) == pytest.approx(list(df["value"]))
    assert {100.0, -50.0} <= set(df["value"])  # the spike and the dip survive
    assert np.all(np.diff(df["step"]) > 0)
    assert df.groupby("bucket").size().max() <= 2


def test_a_metric_against_another_shows_only_visible_runs(client: Client) -> None:
    assert metric_against(client, CAROL, ["r-churn-1"], ["val_acc"], "train/loss").empty
    assert metric_against(client, ALICE, ["r-churn-1"], ["val_acc"], "no-such-key").empty
    with pytest.raises(ValidationError):
        metric_against(client, ALICE, ["r-churn-1"], ["val_acc"], "")


def test_buckets_number_each_downsampled_point_so_bands_can_be_drawn(client: Client) -> None:
    df = metric_series(client, ALICE, ["r-churn-1"], ["loss"], 101, buckets=True)
    assert "bucket" in df.columns
    sizes = df.groupby("bucket").size()
    assert sizes.max() <= 3  # low, high and perhaps the last point
    assert len(sizes) <= 50
    assert np.all(np.diff(df["bucket"]) >= 0)
    runs = ["r-churn-1", "r-churn-2"]
    many = metric_series(client, ALICE, runs, ["loss", "val_acc"], 101, x="time", buckets=True)
    assert many.groupby(["run_id", "key", "bucket"]).size().max() <= 3
    short = metric_series(client, ALICE, ["r-churn-2"], ["val_acc"], 101, buckets=True)
    assert short["bucket"].is_unique  # a short series: each point its own bucket
