"""Histogram events become one row per run, key and step; the schema adds them without touching
the migrations already applied; several steps' bins line up on one grid for a heatmap."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from cairn.errors import ValidationError
from cairn.v1 import metrics_pb2
from domain.projections import LogPosition, PoisonEvent, Projection
from domain.tables import HISTOGRAMS
from query.ddl import Topology
from query.histograms import Histogram, HistogramSeries
from query.migrations import MIGRATIONS
from query.rebuild import SWAPPED_TABLES
from query.reporting_schema import REPORTING_STATEMENTS, REPORTING_VIEWS
from tests.builders import event

POS = LogPosition("cairn.events.v1", 0, 11)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _rows(projection: Projection) -> list[dict[str, object]]:
    buffer = projection.buffers["histograms"]
    names = buffer.schema.column_names
    return [dict(zip(names, values, strict=True)) for values in zip(*buffer.columns(), strict=True)]


def _batch(*histograms: metrics_pb2.Histogram) -> metrics_pb2.HistogramBatch:
    return metrics_pb2.HistogramBatch(histograms=list(histograms))


def test_each_histogram_is_one_row_and_takes_the_event_time_when_it_has_none() -> None:
    weights = metrics_pb2.Histogram(
        key="fc1/weights", step=7, timestamp_ns=1_800_000_000_000_000_000,
        edges=[-1.0, 0.0, 1.0], counts=[3.0, 5.0],
    )  # fmt: skip
    grads = metrics_pb2.Histogram(key="fc1/grad", step=7, edges=[0.0, 0.5], counts=[2.5])
    ev = event("histograms", _batch(weights, grads), run_id="run-h", sequence=4)
    projection = Projection()
    projection.add(ev.SerializeToString(), POS)

    assert _rows(projection) == [
        {
            "run_id": "run-h",
            "key": "fc1/weights",
            "step": 7,
            "timestamp": 1_800_000_000_000_000_000,
            "edges": [-1.0, 0.0, 1.0],
            "counts": [3.0, 5.0],
            "sequence": 4,
        },
        {
            "run_id": "run-h",
            "key": "fc1/grad",
            "step": 7,
            "timestamp": ev.envelope.occurred_at_ns,
            "edges": [0.0, 0.5],
            "counts": [2.5],
            "sequence": 4,
        },
    ]
    assert projection.buffers["events"].rows == 1  # archived like every event


def test_projecting_the_same_histogram_event_twice_gives_identical_rows() -> None:
    ev = event(
        "histograms", _batch(metrics_pb2.Histogram(key="w", step=1, edges=[0, 1], counts=[4]))
    ).SerializeToString()
    first, second = Projection(), Projection()
    first.add(ev, POS)
    second.add(ev, POS)
    assert _rows(first) == _rows(second)
    assert HISTOGRAMS.identity == ("run_id", "key", "step")  # what the engine collapses on
    assert HISTOGRAMS.version == "sequence"  # a later re-log of a step wins


def test_bins_that_do_not_fit_their_edges_are_poison_without_partial_rows() -> None:
    good = metrics_pb2.Histogram(key="a", step=0, edges=[0, 1], counts=[1])
    bad = metrics_pb2.Histogram(key="b", step=0, edges=[0, 1], counts=[1, 2])
    projection = Projection()
    with pytest.raises(PoisonEvent, match="2 edges for 2 counts"):
        projection.add(event("histograms", _batch(good, bad)).SerializeToString(), POS)
    assert projection.rows == 0


def test_the_applied_migrations_keep_their_checksums_and_histograms_come_in_their_own() -> None:
    # Recorded in every database migrated before histograms existed: they must never change.
    assert [(m.version, m.checksum) for m in MIGRATIONS[:4]] == [
        (1, "30b1614edb2bc2d1"),
        (2, "0da444cfc705cb43"),
        (3, "c2101fef8b47041a"),
        (4, "2b228a2fb78197e2"),
    ]
    assert "histograms" not in "\n".join(MIGRATIONS[1].rendered("cairn"))
    assert MIGRATIONS[4].name == "histograms"
    ddl = MIGRATIONS[4].rendered("cairn")
    assert ddl[0].startswith("CREATE TABLE IF NOT EXISTS `cairn`.`histograms` (")
    assert "`edges` Array(Float64)" in ddl[0]
    assert "ENGINE = ReplacingMergeTree(sequence)\nORDER BY (run_id, key, step)" in ddl[0]
    assert any(s.startswith("CREATE OR REPLACE VIEW `cairn`.`histogram_steps`") for s in ddl)
    assert any("'system_metrics', 'histograms')" in s for s in ddl)  # activity leaves them out
    cluster = MIGRATIONS[4].rendered("cairn", Topology("prod"))
    assert any("ReplicatedReplacingMergeTree(" in s for s in cluster)
    assert any("Distributed(`prod`, `cairn`, `histograms_local`, cityHash64(run_id))" in s for s in cluster)  # fmt: skip


def test_replay_swaps_the_histograms_and_reporting_shows_them() -> None:
    assert "histograms" in SWAPPED_TABLES
    assert "histograms" in [view.name for view in REPORTING_VIEWS]
    assert "histograms" not in [getattr(s, "name", "") for s in REPORTING_STATEMENTS]


def _series(*histograms: tuple[int, list[float], list[float]]) -> HistogramSeries:
    found = tuple(
        Histogram(step, T0, tuple(edges), tuple(counts)) for step, edges, counts in histograms
    )
    return HistogramSeries("run-h", "w", found, len(found))


def test_common_bins_span_every_step_and_keep_each_steps_total() -> None:
    series = _series(
        (0, [0.0, 1.0, 2.0], [4.0, 6.0]),
        (10, [1.0, 3.0], [8.0]),
        (20, [-2.0, 0.0, 4.0], [1.0, 3.0]),
    )
    grid = series.on_common_bins(6)
    assert grid.steps == (0, 10, 20)
    assert grid.edges.tolist() == [-2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0]
    assert grid.counts.shape == (3, 6)
    assert grid.counts.sum(axis=1).tolist() == [10.0, 8.0, 4.0]
    assert grid.counts[0].tolist() == [
        0.0,
        0.0,
        4.0,
        6.0,
        0.0,
        0.0,
    ]  # bins that match move as they are
    assert grid.counts[1].tolist() == [0.0, 0.0, 0.0, 4.0, 4.0, 0.0]  # one bin shared evenly
    assert np.allclose(grid.centers, [-1.5, -0.5, 0.5, 1.5, 2.5, 3.5])


def test_common_bins_of_nothing_and_out_of_range_grids() -> None:
    empty = HistogramSeries("run-h", "w", (), 0).on_common_bins(4)
    assert (empty.steps, empty.counts.shape) == ((), (0, 4))
    with pytest.raises(ValidationError, match="bins must be between 1 and 512, got 0"):
        _series((0, [0.0, 1.0], [1.0])).on_common_bins(0)
