"""``make bench-store`` runs end to end on a tiny size: every schema version is built from the
real migrations and written to, and each gets its line."""

from __future__ import annotations

import pytest

from bench.store_write import SCHEMAS, main


def test_every_schema_version_is_measured(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--points", "2000", "--repeat", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for label, _ in SCHEMAS:
        assert any(line.strip().startswith(label) and "points/s" in line for line in lines)
