"""What a read-only user of the local endpoint may run, decided on the statement as the engine
parses it.

``readonly=1`` already makes the engine refuse writes, DDL, setting changes and table functions
(``file``, ``url``, ``executable``, ``remote`` ...) with READONLY (164). It does not stop
``SELECT ... INTO OUTFILE`` (which writes a file on the host), ``KILL QUERY`` or ``SYSTEM`` in the
embedded engine. So before a read-only user's statement runs, the endpoint asks the engine for
its syntax tree (``EXPLAIN AST``, on a read-only connection, with the request's bound parameters)
and accepts only these root kinds: a SELECT (``SelectWithUnionQuery``, which is also what WITH
... SELECT parses to), ``Show*``, ``Describe*``, ``Explain``, ``Exists*``, and no ``INTO OUTFILE``
(an out-file is a string literal hanging directly under the root: a SELECT's own literals are
inside its expression lists). Anything else is refused with READONLY (164), as ClickHouse
refuses a read-only user's write. Table functions other than row generators (``numbers`` ...)
are refused with READONLY (164) too, as the engine itself refuses ``file`` or ``url`` in
read-only mode (``merge`` it would allow, and that reads any database), and so is the scalar
``file()`` function, which the engine runs in read-only mode and which reads any file the server
can. Deciding on the tree, not the text, means comments, case, parentheses and string literals
that look like keywords change nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from localstack._ch_engine import Session
from localstack._ch_errors import ClickHouseError

READONLY = (164, "READONLY")
# Table functions that only generate rows; every other one reaches files, URLs, programs, other
# servers or other databases (``merge``), which a reporting credential may not.
SAFE_TABLE_FUNCTIONS = frozenset(
    {"numbers", "numbers_mt", "zeros", "zeros_mt", "values", "generate_series", "generateSeries"}
)
_ALLOWED_ROOT = re.compile(r"^(SelectWithUnionQuery|Show\w*|Describe\w*|Explain|Exists\w*)\b")


def _root_children(tree: list[str]) -> list[str]:
    """The lines of the nodes directly under the root (one more space of indent)."""
    return [line.strip() for line in tree[1:] if re.match(r"^ \S", line)]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def table_functions(tree: list[str]) -> list[str]:
    """Names of the table functions in a syntax tree: ``Function x`` nodes whose parent node is
    a ``TableExpression`` (a function in a FROM/JOIN position), at any depth."""
    names = []
    parents: list[tuple[int, str]] = []
    for line in tree:
        depth, node = _indent(line), line.strip()
        while parents and parents[-1][0] >= depth:
            parents.pop()
        if node.startswith("Function ") and parents and parents[-1][1].startswith("TableExpr"):
            names.append(node.split(" ")[1])
        parents.append((depth, node))
    return names


def syntax_tree(session: Session, text: bytes, params: Mapping[str, str]) -> list[str]:
    """The engine's ``EXPLAIN AST`` of a statement, one node a line, indented by depth."""
    output = session.query(b"EXPLAIN AST " + text, "TabSeparatedRaw", params)
    return [line for line in output.data.decode("utf-8", "replace").splitlines() if line.strip()]


def check_read_only(tree: list[str], user: str) -> str:
    """Raise READONLY unless ``tree`` is a statement that only reads; return its root kind."""
    root = tree[0].strip() if tree else ""
    kind = root.split(" ")[0]
    if not _ALLOWED_ROOT.match(root):
        raise ClickHouseError.make(
            READONLY,
            f"{user}: Cannot execute query in readonly mode: {kind or 'this statement'} is not "
            "a reading statement (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN, EXISTS)",
        )
    if any(child.startswith("Literal") for child in _root_children(tree)):
        raise ClickHouseError.make(
            READONLY, f"{user}: Cannot execute query in readonly mode: INTO OUTFILE writes a file"
        )
    forbidden = sorted(set(table_functions(tree)) - SAFE_TABLE_FUNCTIONS)
    if forbidden:
        raise ClickHouseError.make(
            READONLY,
            f"{user}: Cannot execute query in readonly mode: table function {forbidden[0]} reads outside the "
            "reporting views",
        )
    if any(
        line.strip() == "Function file" or line.strip().startswith("Function file ")
        for line in tree
    ):
        raise ClickHouseError.make(
            READONLY, f"{user}: Cannot execute query in readonly mode: file() reads host files"
        )
    return kind
