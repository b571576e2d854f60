"""Compiling filters to SQL: only fixed SQL and placeholders, never text from the filter."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.filters import ATTRIBUTES, parse_filter
from query.access import Caller, Visibility
from query.filters_sql import Parameters, compile_filter
from query.runs import RunColumns

# Everything compiled SQL may contain: names and functions the query layer chose, numbers it
# chose (0), operators, placeholders, and the empty string literal ''.
_ALLOWED = re.compile(
    r"\s+|[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?|\{f\d+:(?:String|Float64|Int64|UInt8)\}"
    r"|!=|<=|>=|[()<>=,]|''|\b0\b"
)


RUN_FIELD_LITERALS = {f"'{name}'" for name, _ in ATTRIBUTES.values()} | {
    "'created_at'",
    "'started_at'",
    "'finished_at'",
    "'run'",  # the ownership join's target kind
}


def tokens_outside_allowlist(sql: str) -> str:
    return _ALLOWED.sub("", sql)


def compile_full(text: str) -> tuple[str, str, dict[str, object]]:
    """The condition, the FROM clause with its pivots, and every bound value."""
    params = Parameters()
    resolver = RunColumns(params)
    sql = compile_filter(parse_filter(text), resolver, params)
    from_sql = resolver.from_clause(Visibility(Caller("u", admin=True), "db"))
    return sql, from_sql, params.values


def compile_text(text: str) -> tuple[str, dict[str, object]]:
    sql, _, values = compile_full(text)
    return sql, values


def test_literals_and_keys_become_bound_parameters() -> None:
    sql, values = compile_text("params.lr < 1e-3 and tags.stage = 'tuning' and name like '%x%'")
    assert "tuning" not in sql
    assert "lr" not in sql.replace("params", "")
    assert sorted(map(str, values.values())) == sorted(["0.001", "lr", "stage", "tuning", "%x%"])
    assert tokens_outside_allowlist(sql) == ""


def test_two_valued_semantics_guard_missing_keys_and_null_times() -> None:
    sql, _ = compile_text("metrics.acc > 0.5")
    assert sql.startswith("(m.h0 AND ")
    sql, _ = compile_text("finished < '2026-01-01'")
    assert sql.startswith("ifNull(")
    sql, _ = compile_text("params.lr is null")
    assert sql == "(NOT p.h0)"
    sql, _ = compile_text("name is not null")
    assert sql == "(NOT (r.f_name = ''))"


def test_params_compare_numerically_with_numbers_and_textually_with_strings() -> None:
    sql, _ = compile_text("params.x = 1")
    assert "p.n0 = {f" in sql
    sql, _ = compile_text("params.x = 'adam'")
    assert "p.t0 = {f" in sql
    sql, values = compile_text("params.x = true")
    assert "p.t0 = {f" in sql
    assert "true" in values.values()
    sql, _ = compile_text("params.x in (1, 'a')")
    assert "p.t0 IN (" in sql
    assert "p.n0 IN (" in sql


def test_a_key_used_twice_gets_one_pivot_column() -> None:
    params = Parameters()
    resolver = RunColumns(params)
    compile_filter(
        parse_filter("params.lr > 1 and params.lr < 2 and params.bs = 3"), resolver, params
    )
    assert list(resolver.keys.values()) == [{"lr": 0, "bs": 1}]


_HOSTILE = st.sampled_from(
    [
        "'; DROP TABLE runs; --",
        "x' OR 1=1 --",
        "`",
        "\\",
        "{f0:String}",
        '") OR ("1',
        "*/ SELECT 1 /*",
        "%_",
        "ünï",
    ]
)
_FIELDS = st.sampled_from(
    ["status", "name", "owner", "params.{k}", "tags.{k}", "metrics.{k}", "params.`{k}`"]
)


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


@st.composite
def hostile_filters(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        field = draw(_FIELDS)
        key = draw(st.sampled_from(["lr", "a.b", "val/acc", "x-y:z"]))
        hostile = draw(_HOSTILE)
        if "`{k}`" in field:
            field = field.replace("{k}", hostile.replace("`", "").strip() or "k")
        field = field.replace("{k}", key)
        if field.startswith("metrics."):
            parts.append(f"{field} >= {draw(st.floats(allow_nan=False, allow_infinity=False))}")
        else:
            op = draw(st.sampled_from(["=", "!=", "like", "not like", "<"]))
            parts.append(f"{field} {op} {_quote(hostile)}")
    joiner = draw(st.sampled_from([" and ", " or ", " and not "]))
    return joiner.join(parts)


@settings(max_examples=300, deadline=None)
@given(hostile_filters())
def test_hostile_values_and_keys_never_reach_the_sql_text(text: str) -> None:
    sql, from_sql, values = compile_full(text)
    assert tokens_outside_allowlist(sql) == "", (text, sql)
    for hostile in ("DROP", "OR 1=1", "SELECT 1", "\\", "ünï"):
        assert hostile not in sql
        assert hostile not in from_sql
    # the only quoted text in the FROM clause is run field names from the fixed catalog
    assert set(re.findall(r"'[^']*'", from_sql)) <= RUN_FIELD_LITERALS
    assert values  # every literal and key went to the parameters
