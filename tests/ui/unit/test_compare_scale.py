"""The Compare page's decisions at scale, without Streamlit: run colours, grouping and the mean ±
band math, the N-way diff matrix, categorical axes, the summary line and the last-values table."""

from __future__ import annotations

import colorsys
from itertools import combinations, pairwise

import numpy as np
import pandas as pd
import pytest

from cairn_contract.errors import ValidationError
from domain.diffs import DatasetRecord, KeyValues
from query._records import CodeVersion, Environment, RunSummary
from query.compare import MetricSideBySide, RunComparison, RunIdentity
from query.diff_matrix import build_matrix
from ui import charts
from ui.compare_groups import NOT_SET, bands, group_of, group_options
from ui.compare_view import last_values, matrix_table, not_visible, numbers, summary_line


def _hls(color: str) -> tuple[float, float, float]:
    r, g, b = (int(color[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return colorsys.rgb_to_hls(r, g, b)


def test_run_colours_do_not_repeat_within_a_hundred_and_hues_differ_within_twenty() -> None:
    colours = charts.run_colors(100)
    assert len(set(colours)) == 100
    first = [_hls(c) for c in colours[:20]]
    for (h1, _, _), (h2, _, _) in combinations(first, 2):
        distance = min(abs(h1 - h2), 1 - abs(h1 - h2)) * 360
        assert distance >= 17.5  # twenty hues, evenly spread
    neighbours = [abs(a[0] - b[0]) for a, b in pairwise(first)]
    assert min(min(d, 1 - d) * 360 for d in neighbours) >= 90  # consecutive runs far apart
    for i in range(20, 100):  # the same hue again, in another lightness
        assert abs(_hls(colours[i])[1] - _hls(colours[i - 20])[1]) >= 0.07
    assert charts.run_colors(3) == colours[:3]  # a run keeps its colour whatever the count


def test_a_chart_of_many_runs_keeps_a_legend_and_each_runs_colour() -> None:
    runs = [f"r{i}" for i in range(30)]
    points = pd.DataFrame(
        [{"run_id": r, "key": "loss", "step": s, "value": float(s)} for r in runs for s in (0, 1)]
    )
    colours = dict(zip(runs, charts.run_colors(30), strict=True))
    labels = {r: f"<b>{r}</b>" for r in runs}
    fig = charts.metric_figure(points, "loss", labels, colors=colours)
    assert fig.layout.showlegend is True
    assert fig.layout.legend.orientation == "v"  # right of the plot, scrolling
    assert [t.line.color for t in fig.data] == list(colours.values())
    assert fig.data[0].name == "&lt;b&gt;r0&lt;/b&gt;"  # user text stays text


def _run(run_id: str, *, status: str = "finished", owner: str = "alice") -> RunSummary:
    return RunSummary(
        run_id, "risk", "churn", run_id, owner, owner, status, "", "", None, None, None, None,
        0, False, "", "", "", "", "",
    )  # fmt: skip


def _comparison(identities: tuple[RunIdentity, ...] = ()) -> RunComparison:
    ids = ("a", "b", "c", "d")
    return RunComparison(
        run_ids=ids,
        runs=tuple(_run(r, status="running" if r == "d" else "finished") for r in ids),
        params_differing=(
            KeyValues("lr", ("0.1", "0.01", "0.1", None)),
            KeyValues("optimizer", ("adam", "sgd", "adam", None)),
        ),
        params_common=(("batch", "64"),),
        metrics=(
            MetricSideBySide("loss", (1.0, 2.0, None, 4.0), (0,) * 4, (5,) * 4, (9, 9, None, 3)),
        ),
        tags=({"arch": "cnn"}, {"arch": "mlp"}, {"arch": "cnn"}, {}),
        identities=identities or tuple(RunIdentity(r, None, None, ()) for r in ids),
    )


def test_runs_group_by_a_param_a_tag_or_an_attribute() -> None:
    comparison = _comparison()
    assert group_options(comparison) == [
        "params.lr", "params.optimizer", "tags.arch", "status", "owner", "project",
    ]  # fmt: skip
    assert group_of(comparison, "params.optimizer") == {
        "a": "adam", "b": "sgd", "c": "adam", "d": NOT_SET,
    }  # fmt: skip
    assert group_of(comparison, "params.batch") == dict.fromkeys("abcd", "64")
    assert group_of(comparison, "tags.arch")["d"] == NOT_SET
    assert group_of(comparison, "status")["d"] == "running"
    with pytest.raises(ValueError, match="cannot group"):
        group_of(comparison, "planet")


def test_a_groups_band_is_the_mean_min_max_and_std_of_its_runs_per_interval() -> None:
    rows = []
    for run, offset, last in (("a", 0.0, 9), ("b", 2.0, 9), ("c", 10.0, 4)):
        rows += [
            {"run_id": run, "key": "loss", "step": s, "value": offset + s} for s in range(last + 1)
        ]
    rows.append({"run_id": "a", "key": "acc", "step": 0, "value": 99.0})
    points = pd.DataFrame(rows)
    groups = {"a": "g1", "b": "g1", "c": "g2"}
    out = bands(points, "loss", groups, bins=10)
    g1 = out[out["group"] == "g1"]
    assert list(g1["x"]) == list(range(10))
    assert list(g1["mean"]) == [s + 1.0 for s in range(10)]
    assert list(g1["lo"]) == list(range(10))
    assert list(g1["hi"]) == [s + 2.0 for s in range(10)]
    assert np.allclose(g1["std"], 1.0)
    assert set(g1["runs"]) == {2}
    assert set(g1["members"]) == {2}
    g2 = out[out["group"] == "g2"]
    assert list(g2["x"]) == [0, 1, 2, 3, 4]  # stopped early: no made-up points after it
    assert list(out["group"].drop_duplicates()) == ["g1", "g2"]
    # Downsampled points at different steps share an interval; a run not in groups is left out.
    coarse = bands(points, "loss", {"a": "g", "c": "g"}, bins=2)
    assert list(coarse["runs"]) == [2, 1]
    assert coarse["mean"].iloc[0] == pytest.approx((2.0 + 12.0) / 2)
    assert bands(points, "missing", groups).empty


def _identity(run_id: str, commit: str, dirty: bool, packages: dict[str, str] | None,
              digest: str = "d1") -> RunIdentity:  # fmt: skip
    code = CodeVersion("git@x:y.git", "main", commit, dirty, "patch" if dirty else "", False,
                       "p" * 64 if dirty else "", "train.py")  # fmt: skip
    env = None
    if packages is not None:
        env = Environment("3.12.3", "CPython", "Linux", "6", "cpu", 8, 1, (), "", "", "", "",
                          f"{run_id}-host", packages, "")  # fmt: skip
    return RunIdentity(run_id, code, env, (DatasetRecord("input", "train", digest),))


def test_the_matrix_keeps_only_fields_that_differ_and_marks_them_against_the_baseline() -> None:
    identities = (
        _identity("a", "c1", False, {"numpy": "1", "torch": "2"}),
        _identity("b", "c1", True, {"numpy": "1", "torch": "3"}),
        _identity("c", "c2", False, {"numpy": "1"}, digest="d2"),
        _identity("d", "c1", False, None),
    )
    matrix = build_matrix(identities)
    assert matrix.baseline == "a"
    by_name = {(c.kind, c.name): c for c in matrix.columns}
    assert set(by_name) == {
        ("code", "commit"),
        ("code", "dirty"),
        ("code", "patch"),
        ("environment", "python_version"),
        ("environment", "python_implementation"),
        ("environment", "os"),
        ("environment", "os_version"),
        ("environment", "cpu_model"),
        ("environment", "cpu_count"),
        ("environment", "memory_bytes"),
        ("packages", "numpy"),
        ("packages", "torch"),
        ("datasets", "input: train"),
    }  # fmt: skip  (d recorded no environment: every environment field differs there)
    assert by_name[("packages", "torch")].values == ("2", "3", "", "")
    assert matrix.differs(by_name[("packages", "torch")]) == (False, True, True, True)
    assert matrix.differs(by_name[("code", "commit")]) == (False, False, True, False)
    assert ("code", "branch") in {(c.kind, c.name) for c in matrix.same}
    assert matrix.recorded["environment"] == (True, True, True, False)
    assert matrix.differing_runs("code") == 2
    rebased = build_matrix(identities, "c")
    assert rebased.differs(by_name[("code", "commit")]) == (True, True, False, True)
    with pytest.raises(ValidationError, match="baseline"):
        build_matrix(identities, "zz")
    table = matrix_table(matrix, ("packages",), {r: f"run {r}" for r in "abcd"}).data
    assert list(table.index) == ["run a (baseline)", "run b", "run c", "run d"]
    assert list(table["package: torch"]) == ["2", "3", "—", "—"]


def test_string_params_become_categorical_axes() -> None:
    frame = numbers(_comparison())
    assert frame["params.lr"].tolist()[:3] == [0.1, 0.01, 0.1]
    assert frame["params.optimizer"].tolist() == ["adam", "sgd", "adam", NOT_SET]
    fig = charts.parallel_coordinates(frame.drop(columns=["metrics.loss", "params.lr"]), None)
    (axis,) = fig.data[0].dimensions
    assert axis.label == "params.optimizer"
    assert list(axis.ticktext) == [NOT_SET, "adam", "sgd"]
    assert list(axis.values) == [1, 2, 1, 0]


def test_the_summary_never_says_same_environment_when_none_was_recorded() -> None:
    assert summary_line(_comparison()) == (
        "No code recorded; no environment recorded; no datasets recorded."
    )
    same = tuple(_identity(r, "c1", False, {"numpy": "1"}) for r in "abcd")
    assert summary_line(_comparison(same)) == "Same code; same environment; same datasets."
    mixed = (*same[:3], _identity("d", "c2", False, None))
    assert summary_line(_comparison(mixed)) == (
        "Code differs; environment recorded for 3 of 4 runs; same datasets."
    )
    assert not_visible(1) == "1 run not visible to you"
    assert not_visible(3) == "3 runs not visible to you"


def test_last_values_have_a_row_per_run() -> None:
    table = last_values(_comparison(), {r: f"run {r}" for r in "abcd"})
    assert list(table.index) == ["run a", "run b", "run c", "run d"]
    assert table["loss"].tolist()[:2] == [1.0, 2.0]
