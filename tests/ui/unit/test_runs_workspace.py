"""The Runs workspace's pure logic: default columns and headers, human units, grouping, the
filter builder's clauses, chart panel state and figures, downloads."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pandas as pd
import pytest

from cairn_contract.errors import ValidationError
from domain.filters import parse_filter
from reports.format import People, Person
from ui import runs_charts, runs_columns, runs_filters
from ui.runs_format import date_range, durations, run_durations
from ui.runs_table import display_frame, export_frame, to_csv, to_parquet
from ui.runs_view import group_table

NOW = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)


def test_default_columns_add_the_most_common_metric_and_param_keys_or_the_saved_ones() -> None:
    columns = runs_columns.default_columns(["lr", "depth", "seed", "x"], ["val/auc", "loss"])
    assert columns[: len(runs_columns.BASE_COLUMNS)] == runs_columns.BASE_COLUMNS
    assert columns[len(runs_columns.BASE_COLUMNS) :] == (
        "metrics.val/auc", "metrics.loss", "params.lr", "params.depth", "params.seed",
    )  # fmt: skip
    assert runs_columns.default_columns(["lr"], ["loss"], ["params.lr"]) == ("name", "params.lr")
    # a column from a URL is offered if the filter language can name it (a key new since)
    assert runs_columns.valid(["metrics.loss", "bogus", "name"]) == ["metrics.loss", "name"]
    # a key the filter language cannot name bare never becomes a default column or a choice
    assert "params.batch size" not in runs_columns.default_columns(["batch size", "lr"], [])
    assert "params.lr" in runs_columns.default_columns(["batch size", "lr"], [])
    assert "tags.my tag" not in runs_columns.choices([], ["my tag"], [])


def test_headers_are_readable_and_unique() -> None:
    labels = runs_columns.headers(
        ["name", "metrics.val/auc", "metrics_min.val/auc", "params.lr", "metrics.lr", "tags.stage"]
    )
    assert labels == {
        "name": "name",
        "metrics.val/auc": "val/auc",
        "metrics_min.val/auc": "val/auc (min)",
        "params.lr": "lr (param)",
        "metrics.lr": "lr (metric)",
        "tags.stage": "stage (tag)",
    }
    assert runs_columns.field_text("params.my key") == "params.`my key`"
    assert "metrics.val/auc" in runs_columns.describe("metrics.val/auc")


def test_durations_read_as_words_and_a_running_run_as_running() -> None:
    assert list(durations(pd.Series([5, 720, 3720, 90_000, None]))) == [
        "5 s", "12 min", "1 h 02 min", "1 d 01 h", "—",
    ]  # fmt: skip
    started = pd.Series([pd.Timestamp("2026-12-07 13:48", tz="UTC"), None, None])
    shown = run_durations(
        pd.Series([None, 30.0, None]), pd.Series(["running", "finished", "crashed"]), started, NOW
    )
    assert list(shown) == ["running for 12 min", "30 s", "—"]
    assert "None" not in shown.to_list()


def test_names_are_links_to_the_run_with_the_name_as_text_never_markup() -> None:
    runs = pd.DataFrame(
        {
            "run_id": ["r1", "r2"],
            "name": ["<b>x</b> #1", None],
            "status": ["finished", "running"],
            "started": [NOW, NOW],
            "duration": [61.0, None],
            "created": [NOW, NOW],
        }
    )
    shown = display_frame(
        runs, People({}), ["name", "created", "duration"], run_url_prefix="http://p/run?id=",
        tz="Europe/Berlin", now=NOW,
    )  # fmt: skip
    assert shown["name"].iloc[0] == "http://p/run?id=r1#%3Cb%3Ex%3C%2Fb%3E%20%231"
    assert shown["name"].iloc[1] == "http://p/run?id=r2#r2"  # unnamed: the id's start
    assert str(shown["created"].dt.tz) == "Europe/Berlin"
    assert list(shown["duration"]) == ["1 min", "running for 0 s"]


def test_grouping_shows_created_as_a_date_range_and_numbers_under_readable_headers() -> None:
    runs = pd.DataFrame(
        {
            "run_id": ["a", "b", "c"],
            "status": ["finished"] * 3,
            "created": pd.to_datetime(
                ["2026-12-01 10:00", "2026-12-03 09:30", "2026-12-02 00:00"], utc=True
            ),
            "duration": [60.0, 180.0, None],
            "metrics.val/auc": [0.9, 0.8, 0.7],
        }
    )
    table = group_table(runs, "status").set_index("status")
    assert table.loc["finished", "created"] == "2026-12-01 10:00 to 2026-12-03 09:30"
    assert table.loc["finished", "duration (mean)"] == "2 min"
    assert table.loc["finished", "val/auc max"] == pytest.approx(0.9)
    assert not any("created" in c and c != "created" for c in table.columns)
    lo = pd.Series([pd.Timestamp("2026-12-01 10:00", tz="UTC")])
    assert list(date_range(lo, lo, "UTC")) == ["2026-12-01 10:00"]


@pytest.mark.parametrize(
    ("column", "op", "value", "expected"),
    [
        ("metrics.val/auc", ">", "0.9", "metrics.val/auc > 0.9"),
        ("params.optimizer", "=", "adam", "params.optimizer = 'adam'"),
        ("params.lr", "<", "1e-3", "params.lr < 1e-3"),
        ("tags.stage", "contains", "o'k_", "tags.stage ilike '%o\\'k\\\\_%'"),
        ("status", "one of", "running, failed", "status in ('running', 'failed')"),
        ("created", "after", "2026-12-01", "created > '2026-12-01'"),
        ("metrics.my loss", "is set", "", "metrics.`my loss` is not null"),
    ],
)
def test_the_filter_builder_writes_valid_filter_language(
    column: str, op: str, value: str, expected: str
) -> None:
    text = runs_filters.clause(column, op, value)
    assert text == expected
    parse_filter(text)


def test_the_filter_builder_refuses_bad_input_naming_the_field() -> None:
    with pytest.raises(ValidationError) as number:
        runs_filters.clause("metrics.auc", ">", "high")
    assert number.value.field == "value"
    with pytest.raises(ValidationError) as operator:
        runs_filters.clause("status", "<", "x")
    assert operator.value.field == "operator"
    with pytest.raises(ValidationError):
        runs_filters.clause("created", "after", "yesterday")
    assert runs_filters.append("", "status = 'a'") == "status = 'a'"
    assert (
        runs_filters.append("status = 'a' or owner = 'b'", "project = 'p'")
        == "(status = 'a' or owner = 'b') and project = 'p'"
    )


def test_chart_settings_round_trip_through_the_url() -> None:
    view = runs_charts.ChartsView(("val/auc", "loss"), "metric:epoch", True, 0.6)
    assert runs_charts.ChartsView.from_params(view.to_params()) == view
    assert runs_charts.ChartsView().to_params() == {}
    assert runs_charts.ChartsView.from_params({"cx": "metric:", "csmooth": "7"}).x == "step"
    assert runs_charts.ChartsView.from_params({"csmooth": "7"}).smooth == 0.99
    assert runs_charts.default_keys(["name", "metrics.auc"], ["lr", "auc"]) == ("auc", "lr")
    runs, caption = runs_charts.chart_runs([], [f"r{i}" for i in range(30)])
    assert len(runs) == runs_charts.MAX_RUNS
    assert "select rows" in caption


def test_a_downsampled_series_is_drawn_as_a_line_inside_a_min_max_band() -> None:
    points = pd.DataFrame(
        {
            "run_id": ["a"] * 4 + ["b"] * 2,
            "key": ["loss"] * 6,
            "step": [0, 5, 10, 15, 0, 10],
            "timestamp": pd.to_datetime([0, 5, 10, 15, 0, 10], unit="s", utc=True),
            "value": [1.0, 3.0, 0.5, 0.7, 2.0, 1.0],
            "bucket": [0, 0, 1, 1, 0, 1],
        }
    )
    fig = runs_charts.panel_figure(
        points, "loss", {"a": "run a"}, ["a", "b"], x="relative", tz="UTC", log_y=True, smooth=0
    )
    fills = [t for t in fig.data if t.fill == "tonexty"]
    assert len(fills) == 1  # only run a was downsampled
    assert list(fills[0].y) == [1.0, 0.5]  # each bucket's min
    line = next(t for t in fig.data if t.name == "run a" and t.fill != "tonexty")
    assert list(line.y) == [2.0, 0.6]  # through the middle of each bucket
    assert fig.layout.yaxis.type == "log"
    assert fig.layout.xaxis.title.text == "relative time (s)"


def test_downloads_hold_the_shown_rows_with_readable_headers() -> None:
    runs = pd.DataFrame(
        {
            "run_id": ["r1", "r2"],
            "name": ["a", "b"],
            "owner": ["bob", "alice"],
            "created": [NOW, NOW],
            "duration": [61.0, None],
            "metrics.val/auc": [0.9, 0.8],
            "params.lr": ["0.1", "0.2"],
        }
    )
    people = People({"bob": Person("bob", "Bob", False)})
    frame = export_frame(
        runs,
        people,
        ["name", "owner", "created", "duration", "metrics.val/auc", "params.lr"],
        "UTC",
    )
    assert list(frame.columns) == [
        "run_id",
        "name",
        "owner",
        "created",
        "duration (s)",
        "val/auc",
        "lr",
    ]
    assert frame["owner"].iloc[0] == "Bob (left)"
    assert frame["created"].iloc[0] == "2026-12-07T14:00:00+0000"
    assert pd.read_csv(io.BytesIO(to_csv(frame)))["name"].tolist() == ["a", "b"]
    back = pd.read_parquet(io.BytesIO(to_parquet(frame)))
    assert back["lr"].tolist() == [0.1, 0.2]
    assert back["val/auc"].tolist() == [0.9, 0.8]
