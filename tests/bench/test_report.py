"""Formatting of the comparison section and replacing it inside docs/benchmarks.md."""

from __future__ import annotations

from pathlib import Path

from bench.compare import report
from bench.compare.results import Better, Cell, Results


def _results() -> Results:
    results = Results(mode="quick", started_at="2026-01-01 00:00 UTC", command="make bench QUICK=1")
    results.systems = {"cairn": "Cairn", "mlflow": "MLflow (sync)", "aim": "Aim (local repo)"}
    results.products = {"Cairn": "0.1.0", "MLflow": "3.17.2", "Aim": "3.29.1"}
    results.sizes = {"repetitions": 2}
    name = ("log call", "µs", Better.LOWER)
    for value in (2.0, 4.0):
        results.add("1. Logging cost", *name, "cairn", value)
    for value in (100.0, 300.0):
        results.add("1. Logging cost", *name, "mlflow", value)
    results.fail("1. Logging cost", *name, "aim", "OSError: boom\nmore detail")
    results.note("1. Logging cost", "a note")
    return results


def test_fmt_uses_three_significant_digits_and_separators() -> None:
    assert report.fmt(123456.7) == "123,457"
    assert report.fmt(12.345) == "12.3"
    assert report.fmt(1.2345) == "1.23"
    assert report.fmt(0.0012345) == "0.00123"
    assert report.fmt(float("nan")) == "-"


def test_ratio_text_reads_as_less_or_more() -> None:
    assert report.ratio_text(1.0, 100.0) == "; ratio 0.01 (100x less)"
    assert report.ratio_text(20.0, 10.0) == "; ratio 2 (2.00x more)"
    assert report.ratio_text(-1.0, 10.0) == ""


def test_cell_shows_median_spread_ratio_and_numbers_errors() -> None:
    errors: list[str] = []
    cairn = Cell([2.0, 4.0])
    assert report.cell_text(cairn, cairn, True, errors, True) == "3.00 (2.00 to 4.00)"
    peer = Cell([100.0, 300.0])
    assert report.cell_text(peer, cairn, False, errors, True).startswith("200 (100 to 300); ratio")
    failed = report.cell_text(Cell(error="Boom | pipe"), cairn, False, errors, True)
    assert failed == "**failed** [1]: Boom \\| pipe"
    assert errors == ["Boom | pipe"]
    assert report.cell_text(None, cairn, False, errors, True) == "n/a"


def test_render_has_context_tables_errors_and_notes() -> None:
    text = report.render(_results(), "plot.png")
    assert text.startswith(report.HEADING + "\n")
    assert "Quick mode" in text
    assert "| measure | Cairn | MLflow (sync) | Aim (local repo) |" in text
    assert "**failed** [1]: OSError: boom" in text
    assert "[1] ```OSError: boom more detail```" in text
    assert "- a note" in text
    assert "![Throughput and query latency per system](plot.png)" in text


def test_replace_section_keeps_other_sections() -> None:
    document = (
        "# Benchmarks\n\n## Ingest\n\nours\n\n## Cairn vs MLflow and Aim\n\nold\n\n## Query\n\nq\n"
    )
    replaced = report.replace_section(document, "## Cairn vs MLflow and Aim\n\nnew\n")
    assert replaced == (
        "# Benchmarks\n\n## Ingest\n\nours\n\n## Cairn vs MLflow and Aim\n\nnew\n\n## Query\n\nq\n"
    )


def test_replace_section_appends_or_creates() -> None:
    assert report.replace_section("", "## Cairn vs MLflow and Aim\n") == (
        "# Benchmarks\n\n## Cairn vs MLflow and Aim\n"
    )
    assert report.replace_section("# B\n\n## Other\n\nx\n", "## Cairn vs MLflow and Aim\n") == (
        "# B\n\n## Other\n\nx\n\n## Cairn vs MLflow and Aim\n"
    )


def test_write_without_a_plotting_interpreter_writes_only_markdown(tmp_path: Path) -> None:
    target = tmp_path / "benchmarks.md"
    target.write_text("# Benchmarks\n\n## Mine\n\nkeep\n")
    written = report.write(_results(), target, None)
    assert written == [str(target)]
    text = target.read_text()
    assert "## Mine\n\nkeep" in text
    assert report.HEADING in text
