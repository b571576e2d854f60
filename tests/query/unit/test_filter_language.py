"""The filter language parser: grammar, precedence, types, and errors that point at the spot."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn.errors import ValidationError
from domain.filters import (
    MAX_DEPTH,
    And,
    Comparison,
    Field,
    FilterError,
    InList,
    IsNull,
    Like,
    Literal,
    Namespace,
    Not,
    Op,
    Or,
    OrderKey,
    ValueType,
    fields_of,
    parse_field,
    parse_filter,
    parse_order_by,
)

ISSUE_EXAMPLE = (
    "params.lr < 1e-3 and metrics.val_acc > 0.9 and tags.stage = 'tuning'"
    " and status = 'finished' and created > '2026-01-01'"
)


def attr(name: str, position: int = 0) -> Field:
    return Field(Namespace.ATTRIBUTE, name, position)


def test_the_example_from_the_issue_parses_into_five_typed_comparisons() -> None:
    expr = parse_filter(ISSUE_EXAMPLE)
    assert isinstance(expr, And)
    lr, acc, stage, status, created = expr.items
    assert lr == Comparison(Field(Namespace.PARAMS, "lr", 0), Op.LT, Literal(1e-3, 12))
    assert isinstance(acc, Comparison)
    assert acc.field.namespace is Namespace.METRICS
    assert acc.field.name == "val_acc"
    assert acc.value.value == 0.9
    assert isinstance(stage, Comparison)
    assert stage.value.value == "tuning"
    assert isinstance(status, Comparison)
    assert status.field == attr("status", 73)
    # Times become nanoseconds since the epoch, UTC.
    assert isinstance(created, Comparison)
    assert created.value.value == 1_767_225_600 * 10**9


def test_empty_or_blank_filters_match_everything() -> None:
    assert parse_filter(None) is None
    assert parse_filter("") is None
    assert parse_filter("   \n") is None


def test_not_binds_tighter_than_and_which_binds_tighter_than_or() -> None:
    expr = parse_filter("status = 'a' or not status = 'b' and status = 'c'")
    assert isinstance(expr, Or)
    first, second = expr.items
    assert isinstance(first, Comparison)
    assert isinstance(second, And)
    assert isinstance(second.items[0], Not)
    assert isinstance(second.items[1], Comparison)


def test_parentheses_override_precedence() -> None:
    expr = parse_filter("(status = 'a' or status = 'b') and name = 'x'")
    assert isinstance(expr, And)
    assert isinstance(expr.items[0], Or)


def test_keywords_are_case_insensitive_and_operators_have_synonyms() -> None:
    expr = parse_filter("STATUS == 'a' AND Name <> 'b' OR NOT owner != 'c'")
    assert isinstance(expr, Or)
    left = expr.items[0]
    assert isinstance(left, And)
    assert [c.op for c in left.items if isinstance(c, Comparison)] == [Op.EQ, Op.NE]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "status in ('finished', 'failed')",
            InList(attr("status"), (Literal("finished", 11), Literal("failed", 23))),
        ),
        (
            "status not in ('running')",
            InList(attr("status"), (Literal("running", 15),), negated=True),
        ),
        ("name like 'bert-%'", Like(attr("name"), Literal("bert-%", 10))),
        (
            "name not ilike '%BERT%'",
            Like(attr("name"), Literal("%BERT%", 15), negated=True, case_insensitive=True),
        ),
        ("finished is null", IsNull(attr("finished"))),
        ("tags.stage is not null", IsNull(Field(Namespace.TAGS, "stage", 0), negated=True)),
    ],
)
def test_in_like_and_is_null_predicates(text: str, expected: object) -> None:
    assert parse_filter(text) == expected


@pytest.mark.parametrize(
    ("text", "namespace", "key"),
    [
        ("params.optimizer.lr = 1", Namespace.PARAMS, "optimizer.lr"),
        ("metrics.val/acc > 0", Namespace.METRICS, "val/acc"),
        ("metrics.eval:f1-macro > 0", Namespace.METRICS, "eval:f1-macro"),
        ("metrics_min.loss < 1", Namespace.METRICS_MIN, "loss"),
        ("metrics_max.loss < 1", Namespace.METRICS_MAX, "loss"),
        ("param.x = 'y'", Namespace.PARAMS, "x"),
        ("tags.`team lead` = 'ann'", Namespace.TAGS, "team lead"),
        ("params.`it's` = 1", Namespace.PARAMS, "it's"),
    ],
)
def test_namespaced_keys_may_be_dotted_slashed_or_backquoted(
    text: str, namespace: Namespace, key: str
) -> None:
    expr = parse_filter(text)
    assert isinstance(expr, Comparison)
    assert expr.field.namespace is namespace
    assert expr.field.name == key


def test_numbers_in_every_notation() -> None:
    values = []
    for literal in ("3", "-3", "3.5", ".5", "1e-3", "-2.5E+2", "+7"):
        expr = parse_filter(f"params.x = {literal}")
        assert isinstance(expr, Comparison)
        values.append(expr.value.value)
    assert values == [3.0, -3.0, 3.5, 0.5, 1e-3, -250.0, 7.0]


def test_strings_take_either_quote_and_escape_it() -> None:
    for text, value in (
        ("name = 'it''s'", "it's"),
        ("name = 'it\\'s'", "it's"),
        ('name = "say \\"hi\\""', 'say "hi"'),
        ("name = ''", ""),
    ):
        expr = parse_filter(text)
        assert isinstance(expr, Comparison)
        assert expr.value.value == value


def test_attribute_aliases_resolve_to_one_name() -> None:
    for alias, name in (("created_at", "created"), ("id", "run_id"), ("duration_s", "duration")):
        field = parse_field(alias)
        assert field == attr(name)


def test_field_types() -> None:
    assert parse_field("created").type is ValueType.TIME
    assert parse_field("exit_code").type is ValueType.NUMBER
    assert parse_field("archived").type is ValueType.BOOL
    assert parse_field("params.x").type is ValueType.PARAM
    assert parse_field("metrics.x").type is ValueType.NUMBER
    assert parse_field("tags.x").type is ValueType.STRING


def test_times_accept_dates_datetimes_and_offsets() -> None:
    for text, expected_s in (
        ("'2026-01-01'", 1_767_225_600),
        ("'2026-01-01T01:00:00'", 1_767_225_600 + 3600),
        ("'2026-01-01T01:00:00+01:00'", 1_767_225_600),
        ("'2026-01-01 00:00:00Z'", 1_767_225_600),
    ):
        expr = parse_filter(f"created >= {text}")
        assert isinstance(expr, Comparison)
        assert expr.value.value == expected_s * 10**9


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("params.lr <", 11, "expected a value"),
        ("params.lr < 1 and", 17, "expected a field name"),
        ("status = 'finished", 9, "unterminated string"),
        ("bogus = 1", 0, "unknown field 'bogus'"),
        ("status = 'a' or or", 16, "expected a field name"),
        ("(status = 'a'", 13, "expected ')'"),
        ("status = 'a')", 12, "unexpected ')'"),
        ("metrics.loss > 'low'", 15, "metrics.loss is a number"),
        ("created > 'yesterday'", 10, "not an ISO-8601 date"),
        ("created > 5", 10, "is a time"),
        ("status = 5", 9, "is text"),
        ("archived = 'yes'", 11, "true or false"),
        ("archived < true", 11, "only compares with = and !="),
        ("params.x < true", 11, "true and false only compare"),
        ("params", 6, "needs a key"),
        ("status.x = 1", 6, "has no keys"),
        ("params. = 1", 7, "expected a key"),
        ("status = 'a' # comment", 13, "unexpected character '#'"),
        ("status ~ 'a'", 7, "unexpected character"),
        ("status in 'a'", 10, "expected '(' after 'in'"),
        ("status in ('a' 'b')", 15, "expected ')' or ','"),
        ("status not = 'a'", 11, "expected 'in' or 'like'"),
        ("status is 'a'", 10, "expected 'null'"),
        ("metrics.loss like 'a%'", 17, "'like' does not apply"),
        ("name like 5", 10, "'like' needs a quoted pattern"),
        ("params.x = 1e999", 11, "number out of range"),
        ("params.x = 12abc", 11, "malformed number '12abc'"),
        ("and", 0, "expected a field name"),
        ("status 'a'", 7, "expected a comparison"),
    ],
)
def test_errors_point_at_the_character_where_parsing_failed(
    text: str, position: int, fragment: str
) -> None:
    with pytest.raises(FilterError) as caught:
        parse_filter(text)
    error = caught.value
    assert error.position == position, str(error)
    assert fragment in error.reason
    # The message shows the filter with a caret under the failing character.
    lines = str(error).splitlines()
    assert lines[-1].index("^") - 2 == position
    assert isinstance(error, ValidationError)
    assert error.field == "filter"


def test_nesting_is_bounded_so_no_input_exhausts_the_parser() -> None:
    deep = "(" * (MAX_DEPTH + 1) + "status = 'a'" + ")" * (MAX_DEPTH + 1)
    with pytest.raises(FilterError, match="nests deeper"):
        parse_filter(deep)
    ok = "(" * MAX_DEPTH + "status = 'a'" + ")" * MAX_DEPTH
    assert isinstance(parse_filter(ok), Comparison)
    with pytest.raises(FilterError, match="nests deeper"):
        parse_filter("not " * (MAX_DEPTH + 1) + "status = 'a'")


def test_overlong_filters_are_refused() -> None:
    with pytest.raises(FilterError, match="longer than"):
        parse_filter("status = 'a' or " * 1000 + "status = 'b'")


def test_order_by_specs() -> None:
    assert parse_order_by("metrics.val_acc desc, created") == (
        OrderKey(Field(Namespace.METRICS, "val_acc", 0), descending=True),
        OrderKey(attr("created", 22)),
    )
    assert parse_order_by(["name asc", "params.lr DESC"]) == (
        OrderKey(attr("name")),
        OrderKey(Field(Namespace.PARAMS, "lr", 10), descending=True),
    )
    assert parse_order_by(None) == ()
    assert parse_order_by("") == ()
    with pytest.raises(FilterError, match="unexpected 'sideways'"):
        parse_order_by("name sideways")


def test_fields_of_lists_every_referenced_field() -> None:
    expr = parse_filter("not (params.a = 1 or tags.b is null) and metrics.c in (1, 2)")
    assert [f.label for f in fields_of(expr)] == ["params.a", "tags.b", "metrics.c"]
    assert fields_of(None) == ()


def assert_parses_or_points_inside(text: str) -> None:
    """Parsing either succeeds or raises a FilterError pointing inside the text (any other
    exception fails the test)."""
    position = 0
    try:
        parse_filter(text)
    except FilterError as error:
        position = error.position
    assert 0 <= position <= len(text)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=80))
def test_random_text_either_parses_or_raises_a_filter_error(text: str) -> None:
    assert_parses_or_points_inside(text)


_PIECES = st.sampled_from(
    [
        "status",
        "params.lr",
        "metrics.val_acc",
        "tags.stage",
        "created",
        "archived",
        "name",
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
        " is ",
        " null ",
        "'x'",
        "'2026-01-01'",
        "1e-3",
        "42",
        "true",
        ",",
        "`k`",
        "'",
        '"',
        ";",
        "--",
        "/*",
        "\\",
        "`",
        "{p0:String}",
        "DROP TABLE runs",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_PIECES, max_size=12).map("".join))
def test_random_token_soup_either_parses_or_raises_a_filter_error(text: str) -> None:
    assert_parses_or_points_inside(text)
