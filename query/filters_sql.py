"""Compiling a parsed filter (:mod:`domain.filters`) into a SQL condition with bound values.

The SQL produced here contains only fixed keywords and operators, column expressions chosen by a
:class:`FieldResolver` (which the query layer writes, from a fixed catalog), and ``{fN:Type}``
placeholders. Every literal and every user-chosen key (``params.<key>``) is bound as a
parameter, so no text from the filter ever becomes SQL.

Semantics are two-valued: a comparison on a key the run does not have (or on an unset time) is
false, and ``not`` negates that. So ``not params.lr < 0.01`` matches runs without ``lr``, and
``params.lr is null`` is the way to ask for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from domain.filters import (
    And,
    Comparison,
    Expr,
    Field,
    InList,
    IsNan,
    IsNull,
    Like,
    Literal,
    Namespace,
    Not,
    Op,
    Or,
    ValueType,
)


@dataclass
class Parameters:
    """Bound values of one query; ``bind`` returns the placeholder to put in the SQL."""

    prefix: str = "f"
    values: dict[str, Any] = field(default_factory=dict)

    def bind(self, value: Any, type_: str) -> str:
        name = f"{self.prefix}{len(self.values)}"
        self.values[name] = value
        return f"{{{name}:{type_}}}"


class FieldResolver(Protocol):
    """Maps a filter field to SQL expressions over the rows being filtered."""

    def value(self, field: Field, *, numeric: bool = False) -> str:
        """The field's value; for params, ``numeric`` asks for the number (NaN if none)."""
        ...

    def present(self, field: Field) -> str | None:
        """A condition true where the run has the key (namespaces), or None (attributes)."""
        ...

    def nullable(self, field: Field) -> bool:
        """Whether ``value`` may be NULL (unset times and durations)."""
        ...


_SQL_OPS = {Op.EQ: "=", Op.NE: "!=", Op.LT: "<", Op.LE: "<=", Op.GT: ">", Op.GE: ">="}


def compile_filter(expr: Expr | None, resolver: FieldResolver, params: Parameters) -> str:
    """A SQL condition (never NULL) for ``expr``; ``"1"`` for no filter."""
    if expr is None:
        return "1"
    return _Compiler(resolver, params).expr(expr)


@dataclass
class _Compiler:
    resolver: FieldResolver
    params: Parameters

    def expr(self, node: Expr) -> str:
        if isinstance(node, And):
            return "(" + " AND ".join(self.expr(item) for item in node.items) + ")"
        if isinstance(node, Or):
            return "(" + " OR ".join(self.expr(item) for item in node.items) + ")"
        if isinstance(node, Not):
            return f"(NOT {self.expr(node.item)})"
        if isinstance(node, Comparison):
            return self._guard(node.field, self._comparison(node))
        if isinstance(node, InList):
            condition = self._guard(node.field, self._in_list(node))
            return f"(NOT {condition})" if node.negated else condition
        if isinstance(node, Like):
            function = "ilike" if node.case_insensitive else "like"
            pattern = self.params.bind(node.pattern.value, "String")
            value = self.resolver.value(node.field)
            condition = self._guard(node.field, f"{function}({value}, {pattern})")
            return f"(NOT {condition})" if node.negated else condition
        if isinstance(node, IsNan):
            value = self.resolver.value(node.field, numeric=True)
            return self._guard(node.field, f"isNaN({value})")
        return self._is_null(node)

    def _guard(self, field: Field, condition: str) -> str:
        """Make ``condition`` false (not NULL) where the run lacks the field."""
        present = self.resolver.present(field)
        if present is not None:
            return f"({present} AND {condition})"
        if self.resolver.nullable(field):
            return f"ifNull({condition}, 0)"
        return f"({condition})"

    def _literal(self, field: Field, literal: Literal) -> tuple[str, bool]:
        """(placeholder, compares numerically) for a literal already type-checked by the parser."""
        value = literal.value
        kind = field.type
        if kind is ValueType.TIME:
            return f"fromUnixTimestamp64Nano({self.params.bind(value, 'Int64')})", False
        if kind is ValueType.BOOL:
            return self.params.bind(int(bool(value)), "UInt8"), False
        if isinstance(value, bool):  # params store booleans as text
            return self.params.bind("true" if value else "false", "String"), False
        if isinstance(value, float | int):
            return self.params.bind(float(value), "Float64"), True
        return self.params.bind(value, "String"), False

    def _comparison(self, node: Comparison) -> str:
        placeholder, numeric = self._literal(node.field, node.value)
        value = self.resolver.value(node.field, numeric=numeric)
        return f"{value} {_SQL_OPS[node.op]} {placeholder}"

    def _in_list(self, node: InList) -> str:
        texts: list[str] = []
        numbers: list[str] = []
        for literal in node.values:
            placeholder, numeric = self._literal(node.field, literal)
            (numbers if numeric else texts).append(placeholder)
        parts = []
        if texts:
            parts.append(f"{self.resolver.value(node.field)} IN ({', '.join(texts)})")
        if numbers:
            value = self.resolver.value(node.field, numeric=True)
            parts.append(f"{value} IN ({', '.join(numbers)})")
        return "(" + " OR ".join(parts) + ")"

    def _is_null(self, node: IsNull) -> str:
        field = node.field
        present = self.resolver.present(field)
        if present is not None:
            missing = f"(NOT {present})"
        elif self.resolver.nullable(field):
            missing = f"isNull({self.resolver.value(field)})"
        elif field.namespace is Namespace.ATTRIBUTE and field.type is ValueType.STRING:
            missing = f"({self.resolver.value(field)} = '')"
        else:
            missing = "0"
        return f"(NOT {missing})" if node.negated else missing
