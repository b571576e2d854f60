"""`cairn sql` prints aligned tables that survive odd values."""

from __future__ import annotations

from query.reporting_output import render_table
from query.sql import quote_identifier


def test_table_aligns_columns_and_counts_rows() -> None:
    text = render_table(["name", "n"], [("alpha", 1), ("b", 22)])
    assert text.splitlines() == [
        "name   n ",
        "-----  --",
        "alpha  1 ",
        "b      22",
        "(2 rows)",
    ]


def test_nulls_newlines_and_long_values_are_made_printable() -> None:
    text = render_table(["v"], [(None,), ("a\nb",), ("x" * 100,)])
    lines = text.splitlines()
    assert lines[2].strip() == "NULL"
    assert lines[3].strip() == "a\\nb"
    assert lines[4].strip() == "x" * 59 + "…"
    assert lines[-1] == "(3 rows)"


def test_identifiers_are_always_backquoted_and_escaped() -> None:
    assert quote_identifier("runs") == "`runs`"
    assert quote_identifier("we`ird") == "`we\\`ird`"
