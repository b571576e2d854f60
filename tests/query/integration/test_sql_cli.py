"""`cairn sql` against the real endpoint as the reporting user: a table by default, and the
exact CSV, JSON and Parquet the engine produces with --format."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from localstack import cli
from query.adhoc_sql import SqlError
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
    return cli.cmd_sql(sql_args(query(world), format=fmt, output=str(output) if output else None))


def sql_args(sql: str, **changes: object) -> argparse.Namespace:
    """The parsed arguments of ``cairn sql SQL`` with its defaults."""
    defaults: dict[str, object] = {
        "format": "table",
        "output": None,
        "admin": False,
        "param": [],
        "url": False,
    }
    return argparse.Namespace(query=sql, **{**defaults, **changes})


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
    args = sql_args(f"CREATE TABLE {world.reporting}.sneaky (a UInt8) ENGINE = Memory")
    with pytest.raises(SqlError, match=r"^Code: 164\. READONLY: "):
        cli.cmd_sql(args)


def cairn_sql(world: World, *args: str, url: str | None = None) -> subprocess.CompletedProcess[str]:
    """``cairn sql ARGS`` as a user runs it, from a directory that is not the repository."""
    env = {
        **os.environ,
        "CAIRN_SQL_URL": url or f"{world.endpoint.reporting_url}/{world.reporting}",
        "PYTHONPATH": str(REPO),
    }
    env.pop("CAIRN_DEBUG", None)
    cairn = Path(sys.executable).with_name("cairn")
    return subprocess.run(
        [str(cairn), "sql", *args], env=env, capture_output=True, text=True, timeout=120, cwd="/"
    )


def test_params_are_bound_and_typed_by_the_engine(world: World) -> None:
    done = cairn_sql(
        world,
        f"SELECT run_id FROM {world.reporting}.runs WHERE team = {{team:String}}"
        " AND duration_s < {longest:Float64} AND status = {status:String} ORDER BY run_id",
        "--param",
        "team=risk",
        "--param",
        "longest=30.5",
        "-p",
        "status=failed",
        "--format",
        "csv",
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, '"run_id"\n"r-churn-4"\n', "")
    # A value is data, never SQL: a quote in it is just a character the engine compares.
    done = cairn_sql(
        world, "SELECT {v:String} AS v", "--param", "v=x' OR '1'='1", "--format", "csv"
    )
    assert done.stdout == "\"v\"\n\"x' OR '1'='1\"\n"


def test_every_failure_is_one_line_with_the_engine_code(world: World) -> None:
    cases = {
        ("SELECT nope",): r"^cairn sql: Code: 47\. UNKNOWN_IDENTIFIER: .*\[invalid_argument\]$",
        ("SELECT {lr:Float64}",): r"^cairn sql: Code: 456\. UNKNOWN_QUERY_PARAMETER: .*--param",
        ("SELECT {lr:Float64}", "-p", "lr=abc"): r"^cairn sql: Code: 72\. CANNOT_PARSE_NUMBER: ",
        ("SELECT 1", "-p", "lr"): r"^cairn sql: --param 'lr' must be NAME=VALUE",
        ("CREATE TABLE t (a UInt8) ENGINE = Memory",): r"^cairn sql: Code: 164\. READONLY: ",
        (): r"^cairn sql: give the SQL to run",
    }
    for args, expected in cases.items():
        done = cairn_sql(world, *args)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stdout == ""
        assert len(done.stderr.splitlines()) == 1, done.stderr
        assert re.match(expected, done.stderr.strip()), done.stderr
    wrong = world.endpoint.reporting_url.replace(world.endpoint.reporting_password, "wrong")
    done = cairn_sql(world, "SELECT 1", url=wrong)
    assert done.returncode == 2
    assert re.match(
        r"^cairn sql: ClickHouse refused user 'reporting'.*cairn sql --url", done.stderr
    )
    done = cairn_sql(world, "SELECT 1", url="http://reporting:x@127.0.0.1:1/cairn")
    assert (done.returncode, done.stderr.count("\n")) == (2, 1)
    assert "is the stack running? Check with `cairn status`" in done.stderr


def test_debug_shows_the_traceback(world: World) -> None:
    done = cairn_sql(world, "SELECT nope")
    assert "Traceback" not in done.stderr
    env_debug = cairn_sql(world, "SELECT nope", "--format", "csv")
    assert "Traceback" not in env_debug.stderr
    cairn = Path(sys.executable).with_name("cairn")
    env = {**os.environ, "CAIRN_SQL_URL": f"{world.endpoint.reporting_url}/{world.reporting}"}
    done = subprocess.run(
        [str(cairn), "--debug", "sql", "SELECT nope"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "Traceback (most recent call last)" in done.stderr
    assert done.stderr.splitlines()[-1].startswith("cairn sql: Code: 47. UNKNOWN_IDENTIFIER")


def test_statements_without_rows(
    world: World, as_reporting_user: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.cmd_sql(sql_args(f"SELECT run_id, status FROM {world.reporting}.runs WHERE 0")) == 0
    assert capsys.readouterr().out.splitlines() == ["run_id  status", "------  ------", "(0 rows)"]
    admin = f"{world.endpoint.url}/{world.reporting}"
    done = cairn_sql(world, "CREATE TEMPORARY TABLE scratch (a UInt8) ENGINE = Memory", url=admin)
    assert (done.returncode, done.stdout, done.stderr) == (0, "OK\n", "")
    done = cairn_sql(world, "SELECT 1 AS one FORMAT TSVWithNames")
    assert done.stdout == "one\n1\n"
