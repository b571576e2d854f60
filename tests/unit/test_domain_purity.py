"""The domain core stays free of infrastructure and of the SDK: no transport, broker, stream, UI
or training-client imports."""

from __future__ import annotations

import ast
from pathlib import Path

# `cairn` is the SDK (the training client): the server core depends on the contract
# (`cairn_contract`), never on the client.
FORBIDDEN = {"grpc", "aiokafka", "faust", "clickhouse_connect", "streamlit", "grpc_status", "cairn"}
DOMAIN = Path(__file__).resolve().parents[2] / "domain"


def imported_roots(source: str) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_domain_modules_import_no_infrastructure() -> None:
    offenders = {
        str(path.relative_to(DOMAIN)): sorted(imported_roots(path.read_text()) & FORBIDDEN)
        for path in sorted(DOMAIN.rglob("*.py"))
    }
    assert {name: bad for name, bad in offenders.items() if bad} == {}


def test_the_check_sees_imports_in_every_form() -> None:
    source = "import grpc.aio\nfrom aiokafka import X\ndef f():\n    import streamlit as st\n"
    assert imported_roots(source) == {"grpc", "aiokafka", "streamlit"}
