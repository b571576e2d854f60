"""``make bench-store`` runs end to end on a tiny size: every schema version is built from the
real migrations and written to, the processors' writer writes through a real endpoint both ways,
and each gets its line."""

from __future__ import annotations

import pytest

from bench.store_write import SCHEMAS, main


def test_every_schema_version_is_measured(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--points", "2000", "--repeat", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for label in (*(name for name, _ in SCHEMAS), "Arrow insert", "Native insert"):
        assert any(line.strip().startswith(label) and "points/s" in line for line in lines)
