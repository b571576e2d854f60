"""Per-column filters: a column, an operator and a value become one clause of the filter
language, appended to the filter text, so the URL and permalinks keep a single filter string
and the text box shows exactly what filters the table.

Every clause is checked by the filter language's own parser (:mod:`domain.filters`) before it
is offered; a value that does not fit the column (text for a number, a malformed date) is a
:class:`~cairn_contract.errors.ValidationError` naming the field and the rule.
"""

from __future__ import annotations

from cairn_contract.errors import ValidationError
from domain.filters import Or, ValueType, parse_field, parse_filter
from ui.runs_columns import field_text

# Operator as offered -> how it is written (``{f}`` the field, ``{v}`` the literal).
_COMPARE = {op: f"{{f}} {op} {{v}}" for op in ("=", "!=", "<", "<=", ">", ">=")}
_TEXT = {
    "contains": "{f} ilike {v}",
    "does not contain": "{f} not ilike {v}",
    "one of": "{f} in ({v})",
}
_NULLS = {"is set": "{f} is not null", "is not set": "{f} is null"}
_TIME = {"after": "{f} > {v}", "before": "{f} < {v}"}
OPERATORS: dict[ValueType, dict[str, str]] = {
    ValueType.NUMBER: {**_COMPARE, **_NULLS},
    ValueType.PARAM: {**_COMPARE, **_TEXT, **_NULLS},
    ValueType.STRING: {"=": _COMPARE["="], "!=": _COMPARE["!="], **_TEXT, **_NULLS},
    ValueType.TIME: {**_TIME, **_NULLS},
    ValueType.BOOL: {"is true": "{f} = true", "is false": "{f} = false"},
}
NO_VALUE = frozenset({*_NULLS, "is true", "is false"})


def value_type(column: str) -> ValueType:
    return parse_field(field_text(column)).type


def operators(column: str) -> list[str]:
    """The operators that fit ``column``'s type, as offered to people."""
    return list(OPERATORS[value_type(column)])


def _string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _number(text: str) -> str:
    try:
        float(text)
    except ValueError:
        raise ValidationError(f"{text!r} is not a number", field="value", rule="number") from None
    return text.strip()


def _literal(kind: ValueType, op: str, text: str) -> str:
    text = text.strip()
    if op in ("contains", "does not contain"):
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return _string(f"%{escaped}%")
    if op == "one of":
        items = [item.strip() for item in text.split(",") if item.strip()]
        if not items:
            raise ValidationError(
                "list at least one value, separated by commas", field="value", rule="required"
            )
        return ", ".join(_literal(kind, "=", item) for item in items)
    if kind is ValueType.NUMBER:
        return _number(text)
    if kind is ValueType.PARAM:  # a param compares as a number with a number, else as text
        try:
            return _number(text)
        except ValidationError:
            return _string(text)
    return _string(text)


def clause(column: str, op: str, value: str = "") -> str:
    """One filter-language clause; raises ValidationError naming what is wrong."""
    kind = value_type(column)
    template = OPERATORS[kind].get(op)
    if template is None:
        raise ValidationError(
            f"operator {op!r} does not apply to {column} (use one of: {', '.join(OPERATORS[kind])})",
            field="operator",
            rule="enum",
        )
    if op not in NO_VALUE and not value.strip():
        raise ValidationError(f"{column} {op} needs a value", field="value", rule="required")
    literal = "" if op in NO_VALUE else _literal(kind, op, value)
    text = template.format(f=field_text(column), v=literal)
    parse_filter(text)  # the language decides: e.g. a time that is not ISO 8601
    return text


def append(filter_text: str, new_clause: str) -> str:
    """``filter_text and new_clause``; a filter whose top level is ``or`` is parenthesised
    first, so the new clause narrows all of it."""
    current = filter_text.strip()
    if not current:
        return new_clause
    if isinstance(parse_filter(current), Or):
        current = f"({current})"
    return f"{current} and {new_clause}"
