"""docs/permissions.md names a test for each row; every test it names exists.

A bare file name (``test_sql.py::test_x``) lives in tests/security; a path (``tests/…/test_x.py``)
is read from the repository root, for rows whose test needs another suite's fixtures.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_NAMED = re.compile(r"\| (test_\w+\.py)::(test_\w+) \|\s*$")


def test_every_named_test_exists() -> None:
    rows = [
        line
        for line in (ROOT / "docs" / "permissions.md").read_text().splitlines()
        if re.match(r"\| [WIRPX]\d+ \|", line)
    ]
    assert len(rows) >= 30
    named = [m.groups() for line in rows if (m := _NAMED.search(line))]
    assert len(named) >= 20
    missing = [
        f"{file}::{name}"
        for file, name in named
        if not _path(file).exists()
        or not re.search(rf"^(async )?def {name}\(", _path(file).read_text(), re.M)
    ]
    assert missing == []


def _path(named: str) -> Path:
    return ROOT / named if "/" in named else ROOT / "tests" / "security" / named
