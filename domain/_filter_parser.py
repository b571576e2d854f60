"""The filter language's scanner and recursive-descent parser (pure; see :mod:`domain.filters`).

Tokens are read on demand from the current position, because a key after ``params.`` follows
its own rule (dots, slashes and colons are part of it). Every check that would otherwise fail
later, in SQL, happens here, where the position of the offending character is still known.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from domain._filter_tree import (
    ATTRIBUTES,
    FUNCTIONS,
    KEYWORDS,
    MAX_DEPTH,
    MAX_FILTER_CHARS,
    MAX_IN_VALUES,
    MAX_KEY_CHARS,
    NAMESPACE_ALIASES,
    OPERATORS,
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
    Predicate,
    Value,
    ValueType,
)

# --- tokens -----------------------------------------------------------------------------------

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_KEY_SEGMENT = re.compile(r"[A-Za-z0-9_\-/:]+")
_OPERATOR = re.compile(r"==|!=|<>|<=|>=|=|<|>")


@dataclass(frozen=True)
class Token:
    kind: str  # word | number | string | op | ( | ) | , | end
    text: str
    start: int
    end: int
    value: str | float = ""


class Parser:
    def __init__(self, text: str) -> None:
        if len(text) > MAX_FILTER_CHARS:
            raise FilterError(
                f"filter is longer than {MAX_FILTER_CHARS} characters", text, MAX_FILTER_CHARS
            )
        self.text = text
        self.pos = 0
        self.depth = 0

    # The scanner: tokens are read on demand from ``pos`` (keys need their own rule).

    def error(self, message: str, position: int, rule: str = "filter_syntax") -> FilterError:
        return FilterError(message, self.text, position, rule=rule)

    def peek(self) -> Token:
        text = self.text
        start = self.pos
        while start < len(text) and text[start].isspace():
            start += 1
        if start >= len(text):
            return Token("end", "", start, start)
        char = text[start]
        if char in "(),":
            return Token(char, char, start, start + 1)
        if char in "'\"":
            return self._string(start)
        if m := _OPERATOR.match(text, start):
            return Token("op", m.group(), start, m.end())
        if m := _NUMBER.match(text, start):
            if glued := _WORD.match(text, m.end()):  # 12abc: neither a number nor a name
                raise self.error(f"malformed number {text[start : glued.end()]!r}", start)
            return Token("number", m.group(), start, m.end(), float(m.group()))
        if m := _WORD.match(text, start):
            return Token("word", m.group(), start, m.end())
        raise self.error(f"unexpected character {char!r}", start)

    def _string(self, start: int) -> Token:
        quote = self.text[start]
        chars: list[str] = []
        i = start + 1
        while i < len(self.text):
            char = self.text[i]
            if char == "\\" and i + 1 < len(self.text):
                chars.append(self.text[i + 1])
                i += 2
                continue
            if char == quote:
                if self.text[i + 1 : i + 2] == quote:  # doubled quote
                    chars.append(quote)
                    i += 2
                    continue
                return Token("string", self.text[start : i + 1], start, i + 1, "".join(chars))
            chars.append(char)
            i += 1
        raise self.error("unterminated string", start)

    def take(self) -> Token:
        token = self.peek()
        self.pos = token.end
        return token

    def at_word(self, *words: str) -> bool:
        token = self.peek()
        return token.kind == "word" and token.text.lower() in words

    def expect_word(self, word: str) -> Token:
        token = self.peek()
        if token.kind != "word" or token.text.lower() != word:
            raise self.error(f"expected {word!r}, found {_describe(token)}", token.start)
        return self.take()

    def expect(self, kind: str, what: str) -> Token:
        token = self.peek()
        if token.kind != kind:
            raise self.error(f"expected {what}, found {_describe(token)}", token.start)
        return self.take()

    # The grammar.

    def nest(self, position: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"filter nests deeper than {MAX_DEPTH} levels", position)

    def or_expr(self) -> Expr:
        items = [self.and_expr()]
        while self.at_word("or"):
            self.take()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Expr:
        items = [self.not_expr()]
        while self.at_word("and"):
            self.take()
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else And(tuple(items))

    def not_expr(self) -> Expr:
        token = self.peek()
        if self.at_word("not"):
            self.take()
            self.nest(token.start)
            inner = self.not_expr()
            self.depth -= 1
            return Not(inner)
        if token.kind == "(":
            self.take()
            self.nest(token.start)
            inner = self.or_expr()
            self.expect(")", "')'")
            self.depth -= 1
            return inner
        return self.predicate()

    def predicate(self) -> Predicate:
        token = self.peek()
        if token.kind == "word" and token.text.lower() in FUNCTIONS:
            return self._function(token)
        field = self.field()
        token = self.peek()
        if token.kind == "op":
            self.take()
            return self._comparison(field, OPERATORS[token.text])
        negated = False
        if self.at_word("not"):
            self.take()
            negated = True
            if not self.at_word("in", "like", "ilike"):
                found = self.peek()
                raise self.error(f"expected 'in' or 'like', found {_describe(found)}", found.start)
        if self.at_word("in"):
            self.take()
            return self._in_list(field, negated)
        if self.at_word("like", "ilike"):
            keyword = self.take().text.lower()
            return self._like(field, negated, keyword == "ilike")
        if self.at_word("is"):
            self.take()
            negated = self.at_word("not")
            if negated:
                self.take()
            self.expect_word("null")
            return IsNull(field, negated)
        raise self.error(
            f"expected a comparison, 'in', 'like' or 'is' after {field.label!r}, "
            f"found {_describe(token)}",
            token.start,
        )

    def _function(self, name: Token) -> IsNan:
        self.take()
        self.expect("(", f"'(' after {name.text!r}")
        field = self.field()
        if field.type is not ValueType.NUMBER:
            raise self.error(
                f"isnan() needs a metric, not {field.label}", field.position, "filter_type"
            )
        self.expect(")", "')'")
        return IsNan(field)

    def field(self) -> Field:
        token = self.peek()
        if token.kind != "word" or token.text.lower() in KEYWORDS:
            raise self.error(f"expected a field name, found {_describe(token)}", token.start)
        self.take()
        name = token.text.lower()
        follows_dot = self.text[token.end : token.end + 1] == "."
        if name in NAMESPACE_ALIASES:
            if not follows_dot:
                raise self.error(
                    f"{name!r} needs a key, as in {name}.<key>", token.end, "filter_field"
                )
            self.pos = token.end + 1
            return Field(NAMESPACE_ALIASES[name], self._key(), token.start)
        if name in ATTRIBUTES:
            if follows_dot:
                raise self.error(f"{name!r} has no keys", token.end, "filter_field")
            return Field(Namespace.ATTRIBUTE, ATTRIBUTES[name][0], token.start)
        known = ", ".join(sorted({*ATTRIBUTES, *NAMESPACE_ALIASES}))
        raise self.error(
            f"unknown field {token.text!r} (known: {known})", token.start, "filter_field"
        )

    def _key(self) -> str:
        start = self.pos
        if self.text[start : start + 1] == "`":
            end = self.text.find("`", start + 1)
            if end < 0:
                raise self.error("unterminated `quoted key`", start)
            key = self.text[start + 1 : end]
            self.pos = end + 1
        else:
            segments: list[str] = []
            pos = start
            while True:
                m = _KEY_SEGMENT.match(self.text, pos)
                if not m:
                    raise self.error("expected a key (letters, digits, _ - / :)", pos)
                segments.append(m.group())
                pos = m.end()
                if self.text[pos : pos + 1] != "." or not _KEY_SEGMENT.match(self.text, pos + 1):
                    break
                pos += 1
            key = ".".join(segments)
            self.pos = pos
        if not key or len(key) > MAX_KEY_CHARS or any(ord(c) < 32 for c in key):
            raise self.error(
                f"a key must be 1 to {MAX_KEY_CHARS} printable characters", start, "filter_field"
            )
        return key

    def literal(self) -> Literal:
        token = self.peek()
        if token.kind == "number":
            self.take()
            number = float(token.value)
            if not math.isfinite(number):
                raise self.error("number out of range", token.start)
            return Literal(number, token.start)
        if token.kind == "string":
            self.take()
            return Literal(str(token.value), token.start)
        if self.at_word("true", "false"):
            self.take()
            return Literal(token.text.lower() == "true", token.start)
        raise self.error(f"expected a value, found {_describe(token)}", token.start)

    # Type checks: every predicate that parses compiles to a query that runs.

    def _typed(self, field: Field, literal: Literal, op: Op | None = None) -> Literal:
        kind = field.type
        value = literal.value
        where = literal.position
        if kind is ValueType.TIME:
            if not isinstance(value, str):
                raise self.error(
                    f"{field.label} is a time: compare it with a date such as '2026-01-31'",
                    where,
                    "filter_type",
                )
            return Literal(_parse_time(value, self, where), where)
        if kind is ValueType.NUMBER and not _is_number(value):
            raise self.error(f"{field.label} is a number", where, "filter_type")
        if kind is ValueType.STRING and not isinstance(value, str):
            raise self.error(f"{field.label} is text: quote the value", where, "filter_type")
        if kind is ValueType.BOOL and not isinstance(value, bool):
            raise self.error(f"{field.label} is true or false", where, "filter_type")
        if isinstance(value, bool) and op not in (None, Op.EQ, Op.NE):
            raise self.error("true and false only compare with = and !=", where, "filter_type")
        return literal

    def _comparison(self, field: Field, op: Op) -> Comparison:
        literal = self.literal()
        if field.type is ValueType.BOOL and op not in (Op.EQ, Op.NE):
            raise self.error(f"{field.label} only compares with = and !=", literal.position)
        return Comparison(field, op, self._typed(field, literal, op))

    def _in_list(self, field: Field, negated: bool) -> InList:
        if field.type in (ValueType.TIME, ValueType.BOOL):
            raise self.error(f"'in' does not apply to {field.label}", self.pos, "filter_type")
        self.expect("(", "'(' after 'in'")
        values = [self._typed(field, self.literal())]
        while self.peek().kind == ",":
            self.take()
            if len(values) >= MAX_IN_VALUES:
                raise self.error(f"more than {MAX_IN_VALUES} values in a list", self.pos)
            values.append(self._typed(field, self.literal()))
        self.expect(")", "')' or ','")
        return InList(field, tuple(values), negated)

    def _like(self, field: Field, negated: bool, case_insensitive: bool) -> Like:
        if field.type not in (ValueType.STRING, ValueType.PARAM):
            raise self.error(f"'like' does not apply to {field.label}", self.pos, "filter_type")
        pattern = self.literal()
        if not isinstance(pattern.value, str):
            raise self.error("'like' needs a quoted pattern", pattern.position, "filter_type")
        return Like(field, pattern, negated, case_insensitive)

    def finish(self) -> None:
        token = self.peek()
        if token.kind != "end":
            raise self.error(f"unexpected {_describe(token)}", token.start)


def _is_number(value: Value) -> bool:
    return isinstance(value, float | int) and not isinstance(value, bool)


def _parse_time(text: str, parser: Parser, position: int) -> int:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise parser.error(
            f"{text!r} is not an ISO-8601 date or time", position, "filter_type"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    nanos = (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
    if not 0 <= nanos < 2**63:
        raise parser.error(f"{text!r} is outside 1970..2262", position, "filter_type")
    return nanos


def _describe(token: Token) -> str:
    if token.kind == "end":
        return "the end of the filter"
    return repr(token.text[:40])
