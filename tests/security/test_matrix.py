"""docs/permissions.md names the tests of each row; every test it names exists.

A row's last cell names one or more tests: ``file.py::test_name``, more tests of the same file as
``::test_other``, or a whole file. A bare file name (``test_sql.py``) lives in tests/security,
or, after a path in the same cell (``tests/queryservice/test_x.py``), in that path's folder; a
path is read from the repository root.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_REFERENCE = re.compile(r"((?:tests/[\w/]+/)?test_\w+\.py)|::(test_\w+)")


def _rows() -> list[str]:
    return [
        line
        for line in (ROOT / "docs" / "permissions.md").read_text().splitlines()
        if re.match(r"\| [WIRPX]\d+ \|", line)
    ]


def _defines(path: Path, name: str) -> bool:
    return path.is_file() and bool(re.search(rf"^(async )?def {name}\(", path.read_text(), re.M))


def _missing(row: str) -> list[str]:
    """What the row names that does not exist (or that it names no test at all)."""
    cell = row.rstrip().rstrip("|").rsplit("|", 1)[1]
    folder, current, missing, named = ROOT / "tests" / "security", None, [], 0
    for file, name in _REFERENCE.findall(cell):
        if file:
            current = ROOT / file if "/" in file else folder / file
            folder = current.parent
            named += 1
            if not current.is_file():
                missing.append(str(current.relative_to(ROOT)))
        elif current is None or not _defines(current, name):
            missing.append(f"{current.relative_to(ROOT) if current else '?'}::{name}")
    return missing if named else ["(names no test)"]


def test_every_row_names_tests_that_exist() -> None:
    rows = _rows()
    assert len(rows) >= 30
    missing = {row.split("|")[1].strip(): m for row in rows if (m := _missing(row))}
    assert missing == {}


def test_a_row_naming_a_test_that_does_not_exist_is_caught() -> None:
    assert _missing("| W1 | x | y | test_sql.py::test_no_such_test_anywhere |") == [
        "tests/security/test_sql.py::test_no_such_test_anywhere"
    ]
    assert _missing("| W1 | x | y | pending |") == ["(names no test)"]
    assert (
        _missing(
            "| W1 | x | y | tests/integration/test_automations.py::"
            "test_cli_reads_show_only_the_keys_teams_through_the_query_service |"
        )
        == []
    )
