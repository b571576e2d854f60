"""docs/permissions.md names a test for each row; every test it names exists in tests/security."""

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
        if not (ROOT / "tests" / "security" / file).exists()
        or not re.search(
            rf"^(async )?def {name}\(", (ROOT / "tests" / "security" / file).read_text(), re.M
        )
    ]
    assert missing == []
