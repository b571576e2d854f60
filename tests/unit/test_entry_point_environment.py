"""Only entry points read the environment (docs/architecture.md, invariant 6).

A module that reads a ``CAIRN_*`` variable behind the caller's back makes behaviour depend on the
process environment by accident. So every read of the environment (``os.environ[...]``,
``os.environ.get``, ``os.getenv``, ``... in os.environ``, iterating it) sits in an entry point,
which turns it into a frozen settings value that everything below receives. Handing the whole
environment on unread (to a settings loader such as ``StackSettings.from_env(os.environ)``, or
to a child process as ``{**os.environ, ...}``) is not a read and is allowed anywhere.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = [
    "contract/cairn_contract",
    "sdk/cairn",
    "domain",
    "servicekit",
    "ingest",
    "processors",
    "query",
    "queryservice",
    "reports",
    "ui",
    "localstack",
]
# Entry points: the processes' mains and commands, and the SDK's two settings readers.
ENTRY_POINTS = {
    "sdk/cairn/config.py",  # resolve_settings, read_handover
    "sdk/cairn/cli.py",  # the `cairn` command (CAIRN_DEBUG for its --debug default)
}


def _is_environ(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "environ"
        and isinstance(node.value, ast.Name)
        and node.value.id == "os"
    ) or (isinstance(node, ast.Name) and node.id == "environ")


def environment_reads(source: str) -> list[int]:
    """Line numbers where ``source`` reads the environment (not where it passes it on whole)."""
    reads = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Subscript) and _is_environ(node.value):
            reads.append(node.lineno)
        elif isinstance(node, ast.Attribute) and _is_environ(node.value):
            reads.append(node.lineno)  # os.environ.get / .items() / .keys() / ...
        elif (isinstance(node, ast.Attribute) and node.attr in {"getenv", "getenvb"}) or (
            isinstance(node, ast.Compare) and any(_is_environ(c) for c in node.comparators)
        ):
            reads.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            if {alias.name for alias in node.names} & {"environ", "getenv", "getenvb"}:
                reads.append(node.lineno)
        elif isinstance(node, (ast.For, ast.comprehension)) and _is_environ(node.iter):
            reads.append(node.iter.lineno)
    return sorted(reads)


def _is_entry_point(relative: str) -> bool:
    name = Path(relative).name
    return relative in ENTRY_POINTS or name in {"__main__.py", "cli.py"}


def test_no_module_but_an_entry_point_reads_the_environment() -> None:
    offenders = []
    for package in PRODUCTION:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if "/v1/" in relative or _is_entry_point(relative):
                continue
            offenders += [f"{relative}:{line}" for line in environment_reads(path.read_text())]
    assert offenders == []


def test_the_check_sees_every_kind_of_read_and_allows_passing_it_on() -> None:
    reads = """
import os
from os import getenv
a = os.environ["CAIRN_A"]
b = os.environ.get("CAIRN_B")
c = os.getenv("CAIRN_C")
d = "CAIRN_D" in os.environ
e = [k for k in os.environ]
"""
    assert environment_reads(reads) == [3, 4, 5, 6, 7, 8]
    passes_on = """
import os
settings = Settings.from_env(os.environ)
child = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
copy = dict(os.environ)
"""
    assert environment_reads(passes_on) == []
