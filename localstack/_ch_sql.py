"""Just enough of ClickHouse's SQL lexer to do what its HTTP handler does before parsing.

The HTTP interface receives a statement and, for ``INSERT``, the rows right after it in the
same stream (``INSERT INTO t FORMAT Native\\n<bytes>``). The server has to find where the
statement ends and the data begins, hand the statement to the engine and stream the data
into it. This module finds that boundary, and the ``FORMAT`` clause of a ``SELECT`` (for the
``X-ClickHouse-Format`` and ``Content-Type`` response headers), without understanding anything
else. Quotes, comments, heredocs and brackets are lexed so that a ``FORMAT`` or ``VALUES``
inside them is never mistaken for the clause.

Texts are handled as ``latin-1`` strings decoded from the raw bytes, so every character index
is the byte offset into the request body and non-UTF-8 data after the statement is harmless.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum

_WORD_START = re.compile(r"[A-Za-z_\x80-\xff]")
_WORD = re.compile(r"[A-Za-z0-9_\x80-\xff]*")
_NUMBER = re.compile(r"[0-9A-Za-z_.]*")
_HEREDOC_TAG = re.compile(r"\$([A-Za-z0-9_]*)\$")
_SETTING_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_FORMAT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


class Incomplete(Exception):
    """The text ends inside a token (an unterminated quote, comment or heredoc)."""


@dataclass(frozen=True)
class Token:
    kind: str  # word | number | string | quoted | open | close | semicolon | other
    start: int
    end: int
    depth: int  # bracket nesting depth the token sits at (an ``open`` token counts outside)

    def word(self, text: str) -> str:
        """The token's text upper-cased if it is a bare word, else ""."""
        return text[self.start : self.end].upper() if self.kind == "word" else ""


def _skip_quoted(text: str, pos: int, quote: str) -> int:
    """Index just past the closing ``quote``; backslash escapes and doubled quotes inside."""
    n = len(text)
    i = pos + 1
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == quote:
            if i + 1 < n and text[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    raise Incomplete


def _skip_block_comment(text: str, pos: int) -> int:
    """ClickHouse block comments nest: ``/* a /* b */ c */`` is one comment."""
    depth = 0
    i = pos
    n = len(text)
    while i < n - 1:
        pair = text[i : i + 2]
        if pair == "/*":
            depth += 1
            i += 2
        elif pair == "*/":
            depth -= 1
            i += 2
            if depth == 0:
                return i
        else:
            i += 1
    raise Incomplete


def tokens(text: str) -> Iterator[Token]:
    """Tokens of ``text`` (whitespace and comments dropped). Raises Incomplete at a cut token."""
    n = len(text)
    i = 0
    depth = 0
    while i < n:
        c = text[i]
        if c in " \t\n\r\f\v":
            i += 1
            continue
        two = text[i : i + 2]
        if two == "--" or two in ("# ", "#!"):
            end = text.find("\n", i)
            if end < 0:
                raise Incomplete
            i = end + 1
            continue
        if two == "/*":
            i = _skip_block_comment(text, i)
            continue
        start = i
        if c in "'\"`":
            i = _skip_quoted(text, i, c)
            yield Token("string" if c == "'" else "quoted", start, i, depth)
            continue
        if c == "$":
            m = _HEREDOC_TAG.match(text, i)
            if m:
                close = text.find(m.group(0), m.end())
                if close < 0:
                    raise Incomplete
                i = close + len(m.group(0))
                yield Token("string", start, i, depth)
                continue
        if _WORD_START.match(c):
            m = _WORD.match(text, i + 1)
            i = m.end() if m else i + 1
            yield Token("word", start, i, depth)
            continue
        if c.isdigit():
            m = _NUMBER.match(text, i + 1)
            i = m.end() if m else i + 1
            yield Token("number", start, i, depth)
            continue
        i += 1
        if c in "([{":
            yield Token("open", start, i, depth)
            depth += 1
        elif c in ")]}":
            depth = max(0, depth - 1)
            yield Token("close", start, i, depth)
        elif c == ";":
            yield Token("semicolon", start, i, depth)
        else:
            yield Token("other", start, i, depth)


class Shape(Enum):
    NEED_MORE = "need_more"  # cannot tell yet: read more of the body
    PLAIN = "plain"  # a statement without inline data: the whole body is the query
    INSERT_DATA = "insert_data"  # INSERT whose rows follow the statement in the body


@dataclass(frozen=True)
class Split:
    shape: Shape
    head: str = ""  # INSERT statement without its FORMAT clause or VALUES keyword
    input_format: str = ""  # format of the inline data, e.g. "Native" or "Values"
    data_offset: int = 0  # where the inline data starts


def _skip_to_data(text: str, pos: int) -> int | None:
    """Data starts after the first newline following the format name, if there is one, or
    after the spaces otherwise (ClickHouse's ParserInsertQuery). None if the text ends within
    the spaces, so a newline might still come."""
    n = len(text)
    while pos < n and text[pos] in " \t\f":
        pos += 1
    if pos < n and text[pos] == "\r":
        pos += 1
    if pos < n and text[pos] == "\n":
        return pos + 1
    if pos >= n:
        return None
    return pos


def split_statement(text: str, *, complete: bool) -> Split:
    """Where the statement at the start of ``text`` ends and its inline INSERT data begins.

    ``complete`` says that ``text`` is the whole request (no more body to read). With it false,
    NEED_MORE means the caller must append more of the body and ask again; a token that touches
    the end of the text might continue in the next chunk, so it is not trusted. Tokens are read
    lazily and never past the boundary: the data after it is arbitrary bytes.
    """
    n = len(text)
    stream = tokens(text)
    not_yet = Split(Shape.PLAIN if complete else Shape.NEED_MORE)

    def next_token() -> Token | None:
        try:
            tok = next(stream, None)
        except Incomplete:
            raise _Undecided from None
        if tok is not None and not complete and tok.end >= n:
            raise _Undecided
        return tok

    try:
        first = next_token()
        if first is None:
            return not_yet
        if first.word(text) != "INSERT":
            return Split(Shape.PLAIN)
        seen_select = False
        while (tok := next_token()) is not None:
            if tok.depth or tok.kind != "word":
                continue
            kw = tok.word(text)
            if kw in ("SELECT", "WITH"):
                seen_select = True
            elif kw == "INFILE":
                return Split(Shape.PLAIN)
            elif kw == "VALUES" and not seen_select:
                return Split(Shape.INSERT_DATA, text[: tok.start].rstrip(), "Values", tok.end)
            elif kw == "FORMAT":
                name = next_token()
                if name is None:
                    return not_yet
                if name.kind not in ("word", "quoted"):
                    continue
                data = _skip_to_data(text, name.end)
                if data is None:
                    if not complete:
                        return Split(Shape.NEED_MORE)
                    data = n
                fmt = text[name.start : name.end]
                if name.kind == "quoted":
                    fmt = fmt[1:-1]
                return Split(Shape.INSERT_DATA, text[: tok.start].rstrip(), fmt, data)
        return not_yet
    except _Undecided:
        return not_yet


class _Undecided(Exception):
    """The text ends before the statement can be classified."""


def statement_kind(text: str) -> str:
    """The statement's first keyword, upper-cased (``SELECT``, ``INSERT``...), or ""."""
    try:
        for tok in tokens(text[:4096]):
            return tok.word(text)
    except Incomplete:
        pass
    return ""


def output_format(text: str) -> str | None:
    """The ``FORMAT <name>`` clause at the end of a query, if it has one.

    Only a clause followed by nothing, ``;`` or ``SETTINGS`` counts, so a column that happens
    to be called ``format`` is not mistaken for it. The engine applies the clause itself; this
    is for the response headers.
    """
    try:
        toks = list(tokens(text))
    except Incomplete:
        return None
    found: str | None = None
    for idx, tok in enumerate(toks[:-1]):
        if tok.depth or tok.word(text) != "FORMAT":
            continue
        name = toks[idx + 1]
        if name.kind not in ("word", "quoted"):
            continue
        after = toks[idx + 2] if idx + 2 < len(toks) else None
        if after is None or after.kind == "semicolon" or after.word(text) == "SETTINGS":
            value = text[name.start : name.end]
            found = value[1:-1] if name.kind == "quoted" else value
    return found


def quote_string(value: str) -> str:
    """A ClickHouse string literal for ``value``."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def quote_identifier(name: str) -> str:
    """A back-quoted ClickHouse identifier for ``name``."""
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def is_setting_name(name: str) -> bool:
    """Setting names are bare identifiers; anything else is rejected before it reaches SQL."""
    return bool(_SETTING_NAME.match(name))


def is_format_name(name: str) -> bool:
    """Input/output format names are bare identifiers (``CSVWithNames``, ``Native``...)."""
    return bool(_FORMAT_NAME.match(name))


def escape_param(value: str) -> str:
    """``value`` in the escaped-text form in which the engine reads bound parameter values."""
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def _unquote(text: str) -> str:
    quote = text[0]
    inner = text[1:-1].replace(quote * 2, quote)
    return re.sub(r"\\(.)", r"\1", inner)


def split_columns(structure: str) -> list[tuple[str, str]]:
    """``"a UInt32, `b c` Array(String)"`` as ``[("a", "UInt32"), ("b c", "Array(String)")]``.

    Used for external tables, whose structure comes from the request: names are later quoted
    and types checked by the engine, so nothing from it is ever spliced into SQL. Raises
    ValueError if it is not a list of ``name Type`` pairs.
    """
    columns: list[tuple[str, str]] = []
    pieces: list[list[Token]] = [[]]
    try:
        for tok in tokens(structure):
            if tok.kind == "semicolon":
                raise ValueError("';' in a table structure")
            if tok.depth == 0 and tok.kind == "other" and structure[tok.start] == ",":
                pieces.append([])
            else:
                pieces[-1].append(tok)
    except Incomplete:
        raise ValueError("unterminated quote or comment in a table structure") from None
    for piece in pieces:
        if len(piece) < 2 or piece[0].kind not in ("word", "quoted"):
            raise ValueError(f"expected 'name Type' in table structure {structure!r}")
        first = piece[0]
        raw = structure[first.start : first.end]
        name = raw if first.kind == "word" else _unquote(raw)
        columns.append((name, structure[piece[1].start : piece[-1].end]))
    return columns


def set_statement(settings: dict[str, str]) -> str:
    """One ``SET a = '1', b = 'x'`` statement; values are string literals, which ClickHouse
    parses into the setting's type exactly as it parses HTTP URL parameters."""
    assigns = ", ".join(f"{name} = {quote_string(value)}" for name, value in settings.items())
    return f"SET {assigns}"
