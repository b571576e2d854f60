"""Evaluating a parsed filter (:mod:`domain.filters`) against one subject's values, in Python.

The run search compiles the same tree to SQL (``query/filters_sql.py``); rules evaluate it here,
per event, against what the rule book knows about a run (its attributes, params, tags and latest
metric values). The semantics follow the SQL compiler's: a comparison on a missing field is false,
and a comparison with NaN is false (only ``isnan(...)`` sees NaN).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from domain.filters import (
    And,
    Comparison,
    Expr,
    Field,
    InList,
    IsNan,
    IsNull,
    Like,
    Not,
    Op,
    Or,
    Value,
)

Lookup = Callable[[Field], Value | None]


def evaluate(expr: Expr | None, lookup: Lookup) -> bool:
    """Whether the subject whose values ``lookup`` gives satisfies ``expr`` (None: always)."""
    if expr is None:
        return True
    if isinstance(expr, And):
        return all(evaluate(item, lookup) for item in expr.items)
    if isinstance(expr, Or):
        return any(evaluate(item, lookup) for item in expr.items)
    if isinstance(expr, Not):
        return not evaluate(expr.item, lookup)
    value = lookup(expr.field)
    if isinstance(expr, IsNull):
        missing = value is None or value == ""
        return not missing if expr.negated else missing
    if isinstance(expr, IsNan):
        return isinstance(value, float) and math.isnan(value)
    if value is None:
        return False
    if isinstance(expr, Comparison):
        return _compare(value, expr.op, expr.value.value)
    if isinstance(expr, InList):
        found = any(_compare(value, Op.EQ, item.value) for item in expr.values)
        return not found if expr.negated else found
    assert isinstance(expr, Like)
    pattern = str(expr.pattern.value)
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    flags = re.IGNORECASE | re.DOTALL if expr.case_insensitive else re.DOTALL
    matched = re.fullmatch(regex, str(value), flags) is not None
    return not matched if expr.negated else matched


def _compare(left: Value, op: Op, right: Value) -> bool:
    if isinstance(right, bool) or isinstance(left, bool):
        left_text = str(left).lower() if isinstance(left, bool) else str(left)
        equal = left_text == str(right).lower()
        return equal if op is Op.EQ else (not equal if op is Op.NE else False)
    if isinstance(right, float | int):
        try:
            number = float(left)
        except (TypeError, ValueError):
            return False
        if math.isnan(number):
            return False
        return _apply(number, op, float(right))
    return _apply(str(left), op, str(right))


def _apply(left: float | str, op: Op, right: float | str) -> bool:
    if op is Op.EQ:
        return left == right
    if op is Op.NE:
        return left != right
    if op is Op.LT:
        return left < right  # type: ignore[operator]
    if op is Op.LE:
        return left <= right  # type: ignore[operator]
    if op is Op.GT:
        return left > right  # type: ignore[operator]
    return left >= right  # type: ignore[operator]
