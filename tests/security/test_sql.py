"""The read-only reporting user is really read-only (docs/permissions.md, R5), on the real engine
through the local endpoint: statements are judged as the engine parses them."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.conftest_clickhouse import ClickHouseEndpoint
from tests.security.sql_client import Answer, run_sql

pytestmark = pytest.mark.integration

READONLY = 164


def as_reporting(endpoint: ClickHouseEndpoint, statement: str, **params: str) -> Answer:
    return run_sql(
        endpoint.host,
        endpoint.port,
        endpoint.reporting_user,
        endpoint.reporting_password,
        statement,
        **params,
    )


def as_admin(endpoint: ClickHouseEndpoint, statement: str) -> Answer:
    return run_sql(
        endpoint.host, endpoint.port, endpoint.admin_user, endpoint.admin_password, statement
    )


@pytest.fixture(scope="module")
def canary(clickhouse_endpoint: ClickHouseEndpoint) -> str:
    database = f"canary_{uuid.uuid4().hex[:8]}"
    assert as_admin(clickhouse_endpoint, f"CREATE DATABASE {database}").status == 200
    made = as_admin(
        clickhouse_endpoint,
        f"CREATE TABLE {database}.t (a Int32) ENGINE = MergeTree ORDER BY a",
    )
    assert made.status == 200, made
    assert as_admin(clickhouse_endpoint, f"INSERT INTO {database}.t VALUES (1)").status == 200
    return database


READS = [
    "SELECT 1",
    "SELECT sum(number) FROM numbers(10)",
    "WITH 2 AS x SELECT x",
    "  /* a comment */ select 'INTO OUTFILE' AS text",
    "SHOW TABLES FROM system LIKE 'one'",
    "DESCRIBE TABLE system.one",
    "EXPLAIN SELECT 1",
    "EXISTS TABLE system.one",
    "SELECT {value:String} AS bound",
]


@pytest.mark.parametrize("statement", READS)
def test_reading_statements_run(clickhouse_endpoint: ClickHouseEndpoint, statement: str) -> None:
    answer = as_reporting(clickhouse_endpoint, statement, value="v")
    assert (answer.status, answer.code) == (200, 0), answer


def test_reporting_is_read_only(
    clickhouse_endpoint: ClickHouseEndpoint, canary: str, tmp_path: Path
) -> None:
    target = tmp_path / "written.txt"
    users_file = clickhouse_endpoint.data_dir.parent / "clickhouse-users.json"
    before = users_file.read_bytes()
    attacks = {
        f"SELECT 'x' INTO OUTFILE '{target}' TRUNCATE": READONLY,
        f"SELECT 'x' INTO OUTFILE '{target}' APPEND": READONLY,
        f"SELECT '{{}}' INTO OUTFILE '{users_file}' TRUNCATE FORMAT RawBLOB": READONLY,
        f"SHOW TABLES INTO OUTFILE '{target}'": READONLY,
        f"EXPLAIN SELECT 1 INTO OUTFILE '{target}'": READONLY,
        f"(SELECT 1) INTO OUTFILE '{target}'": READONLY,
        "KILL QUERY WHERE 1": READONLY,
        "KILL QUERY WHERE 1 SYNC": READONLY,
        "SYSTEM STOP MERGES": READONLY,
        "SYSTEM FLUSH LOGS": READONLY,
        "system reload config": READONLY,
        f"INSERT INTO {canary}.t VALUES (2)": READONLY,
        f"TRUNCATE TABLE {canary}.t": READONLY,
        f"DROP TABLE {canary}.t": READONLY,
        f"ALTER TABLE {canary}.t DELETE WHERE 1": READONLY,
        f"CREATE TABLE {canary}.u (a Int32) ENGINE = Memory": READONLY,
        f"OPTIMIZE TABLE {canary}.t FINAL": READONLY,
        "CREATE USER evil IDENTIFIED BY 'x'": READONLY,
        "GRANT ALL ON *.* TO reporting": READONLY,
        "SET readonly = 0": READONLY,
        "SET max_execution_time = 100000": READONLY,
        "SELECT 1 SETTINGS readonly = 0": READONLY,
        "SELECT 1 SETTINGS max_memory_usage = 1": READONLY,
        "SELECT * FROM file('/etc/hostname', 'LineAsString')": READONLY,
        "SELECT file('/etc/hostname')": READONLY,  # the scalar file(): the engine allows it
        "SELECT * FROM url('http://127.0.0.1:9/x', 'CSV', 'a String')": READONLY,
        "SELECT * FROM executable('id', 'TSV', 'a String')": READONLY,
        "SELECT * FROM remote('127.0.0.1', system.one)": READONLY,
        "SELECT * FROM s3('http://127.0.0.1:9/b/k', 'CSV', 'a String')": READONLY,
        "SELECT * FROM merge('system', '^one$')": READONLY,
        "SELECT (SELECT count() FROM url('http://127.0.0.1:9/', 'CSV', 'a String'))": (READONLY),
        "SELECT * FROM numbers(2) AS n, (SELECT * FROM file('x', 'CSV', 'a String')) AS f": (
            READONLY
        ),
    }
    got = {statement: as_reporting(clickhouse_endpoint, statement) for statement in attacks}
    refused = {s: (a.code, a.status) for s, a in got.items()}
    assert refused == {s: (code, 500) for s, code in attacks.items()}
    assert all(answer.body.count("\n") <= 1 for answer in got.values())
    assert not target.exists()
    assert users_file.read_bytes() == before
    assert as_admin(clickhouse_endpoint, f"SELECT count() FROM {canary}.t").body.strip() == "1"


def test_admin_keeps_its_rights(clickhouse_endpoint: ClickHouseEndpoint) -> None:
    assert as_admin(clickhouse_endpoint, "SYSTEM FLUSH LOGS").status == 200


_KEYWORDS = st.sampled_from(
    [
        "INSERT INTO {db}.t VALUES (7)",
        "ALTER TABLE {db}.t DELETE WHERE 1",
        "DROP TABLE {db}.t",
        "TRUNCATE {db}.t",
        "CREATE TABLE {db}.v (a Int8) ENGINE = Memory",
        "RENAME TABLE {db}.t TO {db}.x",
        "KILL QUERY WHERE 1",
        "SYSTEM DROP DNS CACHE",
        "SELECT 7 INTO OUTFILE '{out}'",
        "SELECT * FROM {db}.t INTO OUTFILE '{out}' APPEND",
        "EXPLAIN SYNTAX SELECT 1 INTO OUTFILE '{out}'",
        "DETACH TABLE {db}.t",
        "SET readonly = 0",
    ]
)
_WRAP = st.sampled_from(
    ["{s}", " {s}", "/* x */{s}", "-- c\n{s}", "{s};", "{s} -- tail", "\n\t{s}"]
)
_CASE = st.sampled_from([str, str.lower, str.upper, str.swapcase])


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(statement=_KEYWORDS, wrap=_WRAP, case=_CASE)
def test_generated_sql_never_writes(
    clickhouse_endpoint: ClickHouseEndpoint,
    canary: str,
    tmp_path: Path,
    statement: str,
    wrap: str,
    case: object,
) -> None:
    out = tmp_path / "generated.out"
    text = wrap.format(s=statement.format(db=canary, out=out))
    cased = case(text) if case is not str else text  # type: ignore[operator]
    answer = as_reporting(clickhouse_endpoint, cased)
    assert answer.status != 200, (cased, answer)
    assert not out.exists()
    assert not out.with_name(out.name.upper()).exists()
    count = as_admin(clickhouse_endpoint, f"SELECT count(), sum(a) FROM {canary}.t").body.split()
    assert count == ["1", "1"]
