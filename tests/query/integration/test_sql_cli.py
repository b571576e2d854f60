"""`cairn sql` against the real endpoint as the reporting user: a table by default, and the
exact CSV, JSON and Parquet the engine produces with --format."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from localstack import cli
from tests.query.integration.conftest import World

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]


def query(world: World) -> str:
    return (
        f"SELECT run_id, status, toInt32(round(duration_s)) AS duration FROM {world.reporting}.runs"
        " WHERE team = 'risk' AND status != 'running' ORDER BY run_id"
    )


EXPECTED = [
    ("r-churn-1", "finished", 60),
    ("r-churn-2", "finished", 60),
    ("r-churn-3", "finished", 60),
    ("r-churn-4", "failed", 20),
    ("r-credit-1", "finished", 60),
]


@pytest.fixture
def as_reporting_user(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAIRN_SQL_URL", f"{world.endpoint.reporting_url}/{world.reporting}")


def text(value: str | bytes) -> str:
    """ClickHouse writes String columns to Parquet as binary unless told they are UTF-8."""
    return value.decode() if isinstance(value, bytes) else value


def run(world: World, fmt: str, output: Path | None = None) -> int:
    args = argparse.Namespace(
        query=query(world), format=fmt, output=str(output) if output else None, admin=False
    )
    return cli.cmd_sql(args)


def test_table_is_the_default(
    world: World, as_reporting_user: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(world, "table") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["run_id", "status", "duration"]
    assert lines[2].split() == ["r-churn-1", "finished", "60"]
    assert lines[-1] == "(5 rows)"


def test_csv_json_and_parquet_have_the_right_content(
    world: World, as_reporting_user: None, tmp_path: Path
) -> None:
    for fmt in ("csv", "json", "parquet", "tsv"):
        assert run(world, fmt, tmp_path / f"out.{fmt}") == 0
    rows = list(csv.reader(io.StringIO((tmp_path / "out.csv").read_text())))
    assert rows[0] == ["run_id", "status", "duration"]
    assert [(r, s, int(d)) for r, s, d in rows[1:]] == EXPECTED
    objects = [json.loads(line) for line in (tmp_path / "out.json").read_text().splitlines()]
    assert [(o["run_id"], o["status"], o["duration"]) for o in objects] == EXPECTED
    table = pq.read_table(tmp_path / "out.parquet").to_pylist()
    assert [(text(t["run_id"]), text(t["status"]), t["duration"]) for t in table] == EXPECTED
    tsv = (tmp_path / "out.tsv").read_text().splitlines()
    assert tsv[1].split("\t") == ["r-churn-1", "finished", "60"]


def test_the_cairn_command_writes_csv_to_stdout(world: World) -> None:
    env = {
        **os.environ,
        "CAIRN_SQL_URL": f"{world.endpoint.reporting_url}/{world.reporting}",
        "PYTHONPATH": str(REPO),
    }
    cairn = Path(sys.executable).with_name("cairn")
    done = subprocess.run(
        [str(cairn), "sql", "--format", "csv", query(world)],
        env=env,
        capture_output=True,
        timeout=120,
        check=True,
        cwd=REPO,
    )
    assert done.stdout.decode().splitlines()[1] == '"r-churn-1","finished",60'


def test_the_reporting_user_cannot_write_through_cairn_sql(
    world: World, as_reporting_user: None
) -> None:
    args = argparse.Namespace(
        query=f"CREATE TABLE {world.reporting}.sneaky (a UInt8) ENGINE = Memory",
        format="table",
        output=None,
        admin=False,
    )
    with pytest.raises(Exception, match=r"(?i)readonly|read-only|Cannot execute|not allowed"):
        cli.cmd_sql(args)
