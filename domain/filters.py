"""The run-search filter language, parsed into a typed tree (pure: no SQL, no I/O).

People search runs with filters such as::

    params.lr < 1e-3 and metrics.val_acc > 0.9 and tags.stage = 'tuning'
        and status = 'finished' and created > '2026-01-01'

Grammar (keywords are case-insensitive; ``not`` binds tighter than ``and``, ``and`` tighter
than ``or``)::

    filter    := or_expr END
    or_expr   := and_expr ("or" and_expr)*
    and_expr  := not_expr ("and" not_expr)*
    not_expr  := "not" not_expr | "(" or_expr ")" | predicate
    predicate := field ( op literal
                       | ["not"] "in" "(" literal ("," literal)* ")"
                       | ["not"] ("like" | "ilike") string
                       | "is" ["not"] "null" )
              | "isnan" "(" field ")"
    op        := "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">="
    field     := attribute | namespace "." key
    key       := segment ("." segment)* | `backquoted text`
    literal   := number | 'string' | "string" | true | false

Attributes are the run's own columns (``status``, ``owner``, ``created``, ...); namespaces hold
user-chosen keys (``params.optimizer.lr``, ``metrics.val/acc``, ``tags.stage``). The parser
checks every predicate against the field's type, so a filter that parses always compiles to a
valid query: times are compared with ISO-8601 strings (converted here to nanoseconds, naive
means UTC), metrics with numbers, tags and text attributes with strings; a param compares as a
number with a number and as text with a string.

Every error is a :class:`FilterError` carrying the 0-based ``position`` of the character where
parsing failed, and a message that shows the filter with a caret under that character. Input
size and nesting depth are bounded, so no input can exhaust the parser.

The tree holds values, never SQL: ``query/filters_sql.py`` compiles it with every literal and
every key bound as a query parameter.
"""

from __future__ import annotations

from collections.abc import Sequence

from domain._filter_parser import Parser
from domain._filter_tree import (
    ATTRIBUTES,
    MAX_DEPTH,
    MAX_FILTER_CHARS,
    MAX_IN_VALUES,
    MAX_KEY_CHARS,
    And,
    Comparison,
    Expr,
    Field,
    FilterError,
    InList,
    IsNan,
    IsNull,
    Like,
    Literal,
    Namespace,
    Not,
    Op,
    Or,
    OrderKey,
    Predicate,
    Value,
    ValueType,
    fields_of,
)

__all__ = [
    "ATTRIBUTES",
    "MAX_DEPTH",
    "MAX_FILTER_CHARS",
    "MAX_IN_VALUES",
    "MAX_KEY_CHARS",
    "And",
    "Comparison",
    "Expr",
    "Field",
    "FilterError",
    "InList",
    "IsNan",
    "IsNull",
    "Like",
    "Literal",
    "Namespace",
    "Not",
    "Op",
    "Or",
    "OrderKey",
    "Predicate",
    "Value",
    "ValueType",
    "fields_of",
    "parse_field",
    "parse_filter",
    "parse_order_by",
]


def parse_filter(text: str | None) -> Expr | None:
    """The tree for ``text``; ``None`` for an empty filter (every run). Raises FilterError."""
    if text is None or not text.strip():
        return None
    parser = Parser(text)
    expr = parser.or_expr()
    parser.finish()
    return expr


def parse_field(text: str) -> Field:
    """One field reference such as ``status`` or ``metrics.val_acc``. Raises FilterError."""
    parser = Parser(text)
    field = parser.field()
    parser.finish()
    return field


def parse_order_by(spec: str | Sequence[str] | None) -> tuple[OrderKey, ...]:
    """``"metrics.val_acc desc, created"`` (or a list of such items) into sort keys."""
    if spec is None:
        return ()
    text = spec if isinstance(spec, str) else ", ".join(spec)
    if not text.strip():
        return ()
    parser = Parser(text)
    keys: list[OrderKey] = []
    while True:
        field = parser.field()
        descending = False
        if parser.at_word("asc", "desc"):
            descending = parser.take().text.lower() == "desc"
        keys.append(OrderKey(field, descending))
        if parser.peek().kind != ",":
            break
        parser.take()
    parser.finish()
    return tuple(keys)
