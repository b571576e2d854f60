"""The chdb-backed ClickHouse HTTP endpoint, driven the way real clients drive ClickHouse.

Everything goes through a real server process on a real port: clickhouse-connect's sync and
async clients for what the Cairn services do, raw HTTP (urllib3) for what curl users and other
drivers do and for checking the wire format (headers, status codes, compression).
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import clickhouse_connect
import lz4.frame
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute
import pytest
import urllib3
import zstandard
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError
from clickhouse_connect.driver.external import ExternalData

from localstack import _ch_errors
from tests.integration.conftest_clickhouse import (
    ClickHouseEndpoint,
    ServerProcess,
    make_users_file,
)

pytestmark = pytest.mark.integration

HTTP = urllib3.PoolManager(retries=False)


def connect(ep: ClickHouseEndpoint, *, reporting: bool = False, **kwargs: Any) -> Client:
    user, password = (
        (ep.reporting_user, ep.reporting_password)
        if reporting
        else (ep.admin_user, ep.admin_password)
    )
    return clickhouse_connect.get_client(
        host=ep.host, port=ep.port, username=user, password=password, **kwargs
    )


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def post(
    ep: ClickHouseEndpoint,
    body: bytes | str = b"",
    *,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    auth: dict[str, str] | None = None,
    method: str = "POST",
) -> urllib3.BaseHTTPResponse:
    """A raw request to the endpoint, as the admin user unless ``auth`` says otherwise."""
    url = f"{ep.base_url}/" + (f"?{urlencode(params)}" if params else "")
    all_headers = dict(basic(ep.admin_user, ep.admin_password) if auth is None else auth)
    all_headers.update(headers or {})
    return HTTP.request(
        method,
        url,
        body=body if method == "POST" else None,
        headers=all_headers,
        decode_content=False,
    )


@pytest.fixture
def admin(clickhouse_endpoint: ClickHouseEndpoint) -> Iterator[Client]:
    client = connect(clickhouse_endpoint)
    yield client
    client.close()


@pytest.fixture
def reporting(clickhouse_endpoint: ClickHouseEndpoint) -> Iterator[Client]:
    client = connect(clickhouse_endpoint, reporting=True)
    yield client
    client.close()


@pytest.fixture
def table() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


# --- identity and health ------------------------------------------------------------------


def test_version_timezone_and_response_headers(
    clickhouse_endpoint: ClickHouseEndpoint, admin: Client
) -> None:
    version = admin.query("SELECT version()").result_rows[0][0]
    assert version.startswith("26.")
    assert admin.server_version == version

    qid = f"q-{uuid.uuid4()}"
    resp = post(clickhouse_endpoint, "SELECT 1 AS x FORMAT JSONEachRow", params={"query_id": qid})
    assert resp.status == 200
    assert resp.data == b'{"x":1}\n'
    assert resp.headers["X-ClickHouse-Query-Id"] == qid
    assert resp.headers["X-ClickHouse-Format"] == "JSONEachRow"
    assert resp.headers["X-ClickHouse-Timezone"] == admin.query("SELECT timezone()").first_row[0]
    assert resp.headers["X-ClickHouse-Server-Display-Name"]
    summary = json.loads(resp.headers["X-ClickHouse-Summary"])
    assert summary["read_rows"] == "1"
    assert "elapsed_ns" in summary

    resp = post(clickhouse_endpoint, "SELECT 1")  # no FORMAT: TabSeparated
    assert (resp.data, resp.headers["X-ClickHouse-Format"]) == (b"1\n", "TabSeparated")


def test_ping_and_unknown_paths(clickhouse_endpoint: ClickHouseEndpoint) -> None:
    for path in ("/ping", "/replicas_status", "/"):
        resp = HTTP.request("GET", clickhouse_endpoint.base_url + path)
        assert (resp.status, resp.data) == (200, b"Ok.\n")
    assert HTTP.request("GET", clickhouse_endpoint.base_url + "/nope").status == 404
    assert HTTP.request("HEAD", clickhouse_endpoint.base_url + "/ping").status == 200


def test_ping_answers_while_a_long_query_runs(
    clickhouse_endpoint: ClickHouseEndpoint, admin: Client
) -> None:
    result: dict[str, Any] = {}

    def slow() -> None:
        with connect(clickhouse_endpoint) as client:
            sql = "SELECT sum(sleepEachRow(0.1)) FROM numbers(25) SETTINGS max_block_size = 1"
            result["rows"] = client.query(sql).result_rows

    worker = threading.Thread(target=slow)
    started = time.monotonic()
    worker.start()
    time.sleep(0.3)
    for _ in range(5):
        t0 = time.monotonic()
        assert (
            HTTP.request("GET", clickhouse_endpoint.base_url + "/ping", timeout=2).data == b"Ok.\n"
        )
        assert time.monotonic() - t0 < 1.0
    t0 = time.monotonic()
    assert admin.query("SELECT 42").result_rows == [(42,)]  # queries run in parallel too
    assert time.monotonic() - t0 < 1.0
    worker.join()
    assert result["rows"] == [(0,)]
    assert time.monotonic() - started >= 2.0


# --- bulk data ----------------------------------------------------------------------------


def test_million_rows_insert_and_aggregate(admin: Client, table: str) -> None:
    admin.command(
        f"CREATE TABLE {table} (id UInt64, value Float64, label String, ts DateTime64(3, 'UTC'))"
        " ENGINE = MergeTree ORDER BY id"
    )
    half = 500_000
    n = 2 * half
    base = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    naive = base.replace(tzinfo=None)  # clickhouse-connect returns naive UTC by default
    # First half with the plain column-oriented insert the services use...
    first = range(half)
    columns = [
        list(first),
        [i * 0.5 for i in first],
        [f"run-{i % 1000}" for i in first],
        [naive + dt.timedelta(milliseconds=i) for i in first],
    ]
    t0 = time.monotonic()
    summary = admin.insert(
        table, columns, column_names=["id", "value", "label", "ts"], column_oriented=True
    )
    inserted_lists = time.monotonic() - t0
    assert summary.written_rows == half
    # ...second half from a DataFrame.
    ids = np.arange(half, n, dtype=np.uint64)
    frame = pd.DataFrame(
        {
            "id": ids,
            "value": ids.astype(np.float64) * 0.5,
            "label": [f"run-{i % 1000}" for i in range(half, n)],
            "ts": pd.Timestamp(base) + pd.to_timedelta(ids.astype(np.int64), unit="ms"),
        }
    )
    t0 = time.monotonic()
    assert admin.insert_df(table, frame).written_rows == half
    inserted_df = time.monotonic() - t0

    t0 = time.monotonic()
    row = admin.query(
        f"SELECT count(), sum(id), sum(value), avg(value), uniqExact(label), min(ts), max(ts)"
        f" FROM {table}"
    ).first_row
    aggregated = time.monotonic() - t0
    assert row[:5] == (n, n * (n - 1) // 2, n * (n - 1) / 4, (n - 1) / 4, 1000)
    assert (row[5], row[6]) == (naive, naive + dt.timedelta(milliseconds=n - 1))

    # The whole table back in one response (~16 MB of Arrow), intact.
    t0 = time.monotonic()
    back = admin.query_arrow(f"SELECT id, value FROM {table}")
    fetched = time.monotonic() - t0
    assert back.num_rows == n
    assert int(pa.compute.sum(back.column("id")).as_py()) == n * (n - 1) // 2
    assert float(pa.compute.sum(back.column("value")).as_py()) == n * (n - 1) / 4
    print(
        f"\n1M rows: insert lists {inserted_lists:.2f}s + insert_df {inserted_df:.2f}s,"
        f" aggregate {aggregated:.3f}s, fetch arrow {fetched:.2f}s"
    )
    admin.command(f"DROP TABLE {table}")


def test_dataframe_and_arrow_round_trips(admin: Client, table: str) -> None:
    admin.command(
        f"CREATE TABLE {table} (id UInt32, name String, score Nullable(Float64),"
        " at DateTime('UTC')) ENGINE = MergeTree ORDER BY id"
    )
    frame = pd.DataFrame(
        {
            "id": np.arange(1, 6, dtype=np.uint32),
            "name": ["a", "b", "c'", "d\\", "é"],
            "score": [1.5, None, 3.0, float("nan"), 5.25],
            "at": pd.to_datetime(["2024-05-01 12:00:00"] * 5, utc=True),
        }
    )
    admin.insert_df(table, frame)
    back = admin.query_df(f"SELECT * FROM {table} ORDER BY id")
    assert back["id"].tolist() == [1, 2, 3, 4, 5]
    assert back["name"].tolist() == ["a", "b", "c'", "d\\", "é"]
    assert back["score"].isna().tolist() == [False, True, False, True, False]

    arrow = admin.query_arrow(f"SELECT id, name FROM {table} ORDER BY id")
    assert arrow.column("name").to_pylist() == ["a", "b", "c'", "d\\", "é"]
    extra = pa.table(
        {
            "id": pa.array([6, 7], pa.uint32()),
            "name": ["f", "g"],
            "score": pa.array([None, 7.0], pa.float64()),
            "at": pa.array([dt.datetime(2024, 5, 2), dt.datetime(2024, 5, 3)], pa.timestamp("s")),
        }
    )
    admin.insert_arrow(table, extra)
    assert admin.query(f"SELECT count(), max(id) FROM {table}").first_row == (7, 7)
    admin.command(f"DROP TABLE {table}")


def test_text_and_columnar_formats_from_plain_http(
    clickhouse_endpoint: ClickHouseEndpoint, admin: Client, table: str
) -> None:
    ep = clickhouse_endpoint
    admin.command(f"CREATE TABLE {table} (k UInt32, v String) ENGINE = MergeTree ORDER BY k")
    bodies = [
        f"INSERT INTO {table} FORMAT TabSeparated\n1\tone\n2\ttwo\n",
        f'INSERT INTO {table} (k, v) FORMAT CSV\r\n3,three\n4,"fo,ur"\n',
        f'INSERT INTO {table} FORMAT JSONEachRow {{"k": 5, "v": "five"}}\n',
        f"INSERT INTO {table} VALUES (6, 'six'), (7, 'se''ven')",
    ]
    for body in bodies:
        resp = post(ep, body)
        assert resp.status == 200, resp.data
        assert resp.data == b""
    # Statement in the URL, data in the body.
    resp = post(ep, b"8\teight\n", params={"query": f"INSERT INTO {table} FORMAT TSV"})
    assert resp.status == 200, resp.data
    # Parquet and Arrow produced by the server itself, then fed back.
    for fmt, first in (("Parquet", 100), ("Arrow", 200), ("ArrowStream", 300)):
        blob = post(ep, f"SELECT number + {first} AS k, 'x' AS v FROM numbers(3) FORMAT {fmt}")
        assert blob.status == 200
        resp = post(ep, f"INSERT INTO {table} FORMAT {fmt}\n".encode() + blob.data)
        assert resp.status == 200, resp.data
        summary = json.loads(resp.headers["X-ClickHouse-Summary"])
        assert summary["written_rows"] == "3"
    rows = admin.query(f"SELECT k, v FROM {table} WHERE k < 100 ORDER BY k").result_rows
    assert rows == [
        (1, "one"),
        (2, "two"),
        (3, "three"),
        (4, "fo,ur"),
        (5, "five"),
        (6, "six"),
        (7, "se'ven"),
        (8, "eight"),
    ]
    assert admin.query(f"SELECT count() FROM {table} WHERE k >= 100").first_row == (9,)
    # A GET query (readonly=2) reads but cannot write.
    resp = post(ep, method="GET", params={"query": f"SELECT count() FROM {table}"})
    assert resp.data == b"17\n"
    resp = post(ep, method="GET", params={"query": f"INSERT INTO {table} VALUES (9, 'x')"})
    assert resp.headers["X-ClickHouse-Exception-Code"] == "164"
    admin.command(f"DROP TABLE {table}")


def test_external_data_tables(admin: Client, reporting: Client, table: str) -> None:
    data = ExternalData(
        file_name="ext.csv", data=b"1,a\n2,b\n3,c\n", fmt="CSV", structure=["k UInt32", "v String"]
    )
    for client in (admin, reporting):  # read-only users may send external data too
        rows = client.query("SELECT sum(k), groupArray(v) FROM ext", external_data=data).result_rows
        assert rows == [(6, ["a", "b", "c"])]
    # The temporary table exists for the read-only user, but real tables stay out of reach.
    admin.command(f"CREATE TABLE {table} (k UInt32) ENGINE = MergeTree ORDER BY k")
    with pytest.raises(DatabaseError) as caught:
        reporting.command(f"INSERT INTO {table} SELECT k FROM ext", external_data=data)
    assert caught.value.code == 164
    admin.command(f"INSERT INTO {table} SELECT k FROM ext", external_data=data)
    assert admin.command(f"SELECT sum(k) FROM {table}") == 6
    # The structure is request text, read before readonly applies: it must not reach SQL.
    for structure in (
        f"k UInt32) ENGINE = Memory; DROP TABLE {table}; CREATE TEMPORARY TABLE z (k UInt32",
        "k UInt32) ENGINE = Memory AS SELECT * FROM file('/etc/hostname', 'LineAsString'",
    ):
        evil = ExternalData(file_name="ext.csv", data=b"1\n", fmt="CSV", structure=structure)
        with pytest.raises(DatabaseError):
            reporting.query("SELECT * FROM ext", external_data=evil)
    assert admin.command(f"SELECT sum(k) FROM {table}") == 6
    odd = ExternalData(
        file_name="odd.tsv",
        data=b"a,b\t[1,2]\n",
        structure=["`we``ird` Enum8('a,b' = 1, 'it''s' = 2)", "arr Array(UInt8)"],
    )
    assert reporting.query("SELECT * FROM odd", external_data=odd).result_rows == [("a,b", [1, 2])]
    admin.command(f"DROP TABLE {table}")


# --- parameters and settings --------------------------------------------------------------


def test_bound_parameters_are_values_never_sql(admin: Client, table: str) -> None:
    admin.command(f"CREATE TABLE {table} (name String) ENGINE = MergeTree ORDER BY name")
    admin.insert(table, [["keep"]], column_names=["name"])
    evil = f"x'); DROP TABLE {table}; SELECT ('\\' \t\n\"é`{{evil:String}}"
    rows = admin.query(
        "SELECT {s:String} AS s, {n:UInt64} + 1 AS n, {d:DateTime} AS d, {a:Array(String)} AS a,"
        " count() FROM {t:Identifier} WHERE name != {s:String}",
        parameters={
            "s": evil,
            "n": 41,
            "d": dt.datetime(2024, 2, 3, 4, 5, 6),
            "a": ["o'k", "\\"],
            "t": table,
        },
    ).result_rows
    assert rows == [(evil, 42, dt.datetime(2024, 2, 3, 4, 5, 6), ["o'k", "\\"], 1)]
    # A bound value large enough that clickhouse-connect moves it into a multipart form.
    big = "'" * 5000 + evil
    assert admin.query(
        "SELECT {b:String} = {b:String}, lengthUTF8({b:String})", parameters={"b": big}
    ).first_row == (1, len(big))
    assert admin.command(f"SELECT count() FROM {table}") == 1  # the table survived


def test_settings_apply_to_one_request_only(
    clickhouse_endpoint: ClickHouseEndpoint, admin: Client
) -> None:
    limited = admin.query(
        "SELECT number FROM numbers(10)",
        settings={"max_result_rows": 3, "result_overflow_mode": "break", "max_block_size": 1},
    )
    assert len(limited.result_rows) == 3
    assert admin.query("SELECT getSetting('max_result_rows')").first_row == (0,)
    assert len(admin.query("SELECT number FROM numbers(10)").result_rows) == 10
    # SET inside a request does not survive it either (no server-side sessions).
    admin.command("SET max_threads = 1")
    assert admin.command("SELECT getSetting('max_threads')") != 1
    # Settings as plain URL parameters, next to transport parameters clickhouse-connect sends.
    probe = (
        "SELECT getSetting('output_format_json_quote_64bit_integers'), getSetting('log_comment')"
    )
    resp = post(
        clickhouse_endpoint,
        probe,
        params={
            "output_format_json_quote_64bit_integers": "1",
            "log_comment": "it's mine",
            "wait_end_of_query": "1",
            "session_id": "ignored",
        },
    )
    assert resp.data == b"true\tit\\'s mine\n"
    assert post(clickhouse_endpoint, probe).data == b"false\t\n"
    unknown = post(clickhouse_endpoint, "SELECT 1", params={"no_such_setting": "1"})
    assert unknown.headers["X-ClickHouse-Exception-Code"] == "115"


def test_database_parameter(clickhouse_endpoint: ClickHouseEndpoint, admin: Client) -> None:
    db = f"db_{uuid.uuid4().hex[:8]}"
    admin.command(f"CREATE DATABASE {db}")
    admin.command(f"CREATE TABLE {db}.items (x UInt8) ENGINE = Memory")
    with connect(clickhouse_endpoint, database=db) as scoped:
        scoped.insert("items", [[7]], column_names=["x"])
        assert scoped.query("SELECT currentDatabase(), sum(x) FROM items").first_row == (db, 7)
    resp = post(clickhouse_endpoint, "SELECT 1", params={"database": "missing_db"})
    assert resp.headers["X-ClickHouse-Exception-Code"] == "81"
    admin.command(f"DROP DATABASE {db}")


# --- errors and access --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "code", "status", "name"),
    [
        ("SELEC 1", 62, 400, "SYNTAX_ERROR"),
        ("SELECT * FROM no_such_table_here", 60, 404, "UNKNOWN_TABLE"),
        ("SELECT no_such_function(1)", 46, 404, "UNKNOWN_FUNCTION"),
        ("SELECT throwIf(1)", 395, 500, "FUNCTION_THROW_IF_VALUE_IS_NON_ZERO"),
    ],
)
def test_errors_look_like_clickhouse(
    clickhouse_endpoint: ClickHouseEndpoint,
    admin: Client,
    sql: str,
    code: int,
    status: int,
    name: str,
) -> None:
    with pytest.raises(DatabaseError) as caught:
        admin.query(sql)
    assert caught.value.code == code
    resp = post(clickhouse_endpoint, sql)
    assert resp.status == status
    assert resp.headers["X-ClickHouse-Exception-Code"] == str(code)
    text = resp.data.decode()
    assert text.startswith(f"Code: {code}. DB::Exception: ")
    assert f"({name}) (version 26." in text


def test_one_statement_per_request(clickhouse_endpoint: ClickHouseEndpoint) -> None:
    resp = post(clickhouse_endpoint, "SELECT 1; SELECT 2")
    assert resp.headers["X-ClickHouse-Exception-Code"] == "62"
    assert b"Multi-statements are not allowed" in resp.data
    assert post(clickhouse_endpoint, "SELECT 1;").data == b"1\n"


def test_failed_inserts_report_and_keep_the_connection_usable(
    clickhouse_endpoint: ClickHouseEndpoint, admin: Client, table: str
) -> None:
    ep = clickhouse_endpoint
    admin.command(f"CREATE TABLE {table} (k UInt32) ENGINE = MergeTree ORDER BY k")
    pool = urllib3.HTTPConnectionPool(ep.host, ep.port, maxsize=1, retries=False)
    auth = basic(ep.admin_user, ep.admin_password)

    def send(body: bytes) -> urllib3.BaseHTTPResponse:
        return pool.request("POST", "/", body=body, headers=auth)

    bad = send(f"INSERT INTO {table} FORMAT CSV\n1\nnot-a-number\n".encode())
    assert bad.status == 400
    assert bad.headers["X-ClickHouse-Exception-Code"] == "117"  # INCORRECT_DATA
    # Rejected before any data is read: the rest of the body is drained, not parsed as HTTP.
    missing = send(b"INSERT INTO no_such_table_here FORMAT TSV\n" + b"1\n" * 500_000)
    assert missing.headers["X-ClickHouse-Exception-Code"] == "60"
    # The same with a chunked body, the way clickhouse-connect streams inserts.
    chunks = iter([f"INSERT INTO {table} FORMAT TSV\n1\n".encode(), b"x\n" * 100_000, b"2\n"])
    chunked = pool.urlopen("POST", "/", body=chunks, headers=auth, chunked=True)
    assert chunked.headers["X-ClickHouse-Exception-Code"] in ("27", "117")
    assert send(b"SELECT 7").data == b"7\n"
    assert pool.num_connections == 1  # all of it over one keep-alive connection
    assert admin.query(f"SELECT count() FROM {table}").first_row == (0,)
    admin.command(f"DROP TABLE {table}")


def test_many_threads_at_once(clickhouse_endpoint: ClickHouseEndpoint, admin: Client) -> None:
    tables = [f"thr_{uuid.uuid4().hex[:10]}" for _ in range(6)]
    for name in tables:
        admin.command(f"CREATE TABLE {name} (i UInt32) ENGINE = MergeTree ORDER BY i")
    failures: list[BaseException] = []

    def work(name: str) -> None:
        try:
            with connect(clickhouse_endpoint) as client:
                for batch in range(10):
                    client.insert(name, [[batch * 100 + k] for k in range(100)], column_names=["i"])
                    count = client.query(f"SELECT count() FROM {name}").first_row[0]
                    assert count == (batch + 1) * 100
                    big = client.query_np("SELECT number FROM numbers(200000)")
                    assert int(big.sum()) == 200000 * 199999 // 2
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(name,)) for name in tables]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    for name in tables:
        assert admin.query(f"SELECT count(), uniqExact(i) FROM {name}").first_row == (1000, 1000)
        admin.command(f"DROP TABLE {name}")


def test_error_codes_used_by_the_endpoint_match_the_engine(admin: Client) -> None:
    ours = [
        getattr(_ch_errors, attr)
        for attr in dir(_ch_errors)
        if attr.isupper() and isinstance(getattr(_ch_errors, attr), tuple)
    ]
    assert len(ours) >= 5
    for code, name in ours:
        assert admin.command(f"SELECT errorCodeToName({code})") == name


def test_authentication(clickhouse_endpoint: ClickHouseEndpoint) -> None:
    ep = clickhouse_endpoint
    ok = [
        basic(ep.admin_user, ep.admin_password),
        {"X-ClickHouse-User": ep.admin_user, "X-ClickHouse-Key": ep.admin_password},
    ]
    for auth in ok:
        assert post(ep, "SELECT currentUser() != ''", auth=auth).data == b"1\n"
    url_auth = {"user": ep.admin_user, "password": ep.admin_password}
    assert post(ep, "SELECT 1", params=url_auth, auth={}).data == b"1\n"

    bad = [
        {},  # nothing: the "default" user, which does not exist here
        basic(ep.admin_user, "wrong"),
        basic("nobody", ep.admin_password),
        {"X-ClickHouse-User": ep.reporting_user, "X-ClickHouse-Key": ep.admin_password},
    ]
    for auth in bad:
        resp = post(ep, "SELECT 1", auth=auth)
        assert resp.status == 403
        assert resp.headers["X-ClickHouse-Exception-Code"] == "516"
        assert b"(AUTHENTICATION_FAILED)" in resp.data
    mixed = post(ep, "SELECT 1", params=url_auth, auth=basic(ep.admin_user, ep.admin_password))
    assert mixed.headers["X-ClickHouse-Exception-Code"] == "516"

    with pytest.raises(DatabaseError) as caught:
        clickhouse_connect.get_client(host=ep.host, port=ep.port, username="cairn", password="x")
    assert caught.value.code == 516


def test_reporting_user_reads_but_cannot_write(
    clickhouse_endpoint: ClickHouseEndpoint, admin: Client, reporting: Client, table: str
) -> None:
    admin.command(f"CREATE TABLE {table} (x UInt8) ENGINE = MergeTree ORDER BY x")
    admin.insert(table, [[1], [2]], column_names=["x"])  # the admin can write
    assert reporting.query(f"SELECT sum(x) FROM {table}").first_row == (3,)

    attempts = [
        lambda: reporting.insert(table, [[3]], column_names=["x"]),
        lambda: reporting.command(f"INSERT INTO {table} VALUES (3)"),
        lambda: reporting.command(f"DROP TABLE {table}"),
        lambda: reporting.command("CREATE TABLE evil (x UInt8) ENGINE = Memory"),
        lambda: reporting.query(f"SELECT * FROM {table} SETTINGS readonly = 0"),
        lambda: reporting.query("SELECT * FROM file('/etc/hostname', 'LineAsString')"),
    ]
    for attempt in attempts:
        with pytest.raises(DatabaseError) as caught:
            attempt()
        assert caught.value.code == 164
    ep = clickhouse_endpoint
    auth = basic(ep.reporting_user, ep.reporting_password)
    for params in ({"readonly": "0"}, {"readonly": "2"}, {"max_result_rows": "5"}):
        resp = post(ep, f"INSERT INTO {table} VALUES (3)", params=params, auth=auth)
        assert resp.headers["X-ClickHouse-Exception-Code"] == "164"
    with pytest.raises(DatabaseError, match=f"{ep.reporting_user}: Cannot execute query"):
        reporting.command(f"TRUNCATE TABLE {table}")
    assert admin.query(f"SELECT count() FROM {table}").first_row == (2,)
    admin.command(f"DROP TABLE {table}")


# --- clients and transport ----------------------------------------------------------------


async def test_async_client(clickhouse_endpoint: ClickHouseEndpoint, table: str) -> None:
    ep = clickhouse_endpoint
    client = await clickhouse_connect.get_async_client(
        host=ep.host, port=ep.port, username=ep.admin_user, password=ep.admin_password
    )
    try:
        await client.command(
            f"CREATE TABLE {table} (x UInt32, s String) ENGINE = MergeTree ORDER BY x"
        )
        await client.insert(table, [[i, f"s{i}"] for i in range(10_000)], column_names=["x", "s"])
        result = await client.query(
            f"SELECT count(), sum(x) FROM {table} WHERE s != {{s:String}}", parameters={"s": "s1"}
        )
        assert result.first_row == (9_999, 49_995_000 - 1)
        frame = await client.query_df(f"SELECT x FROM {table} ORDER BY x LIMIT 3")
        assert frame["x"].tolist() == [0, 1, 2]
        with pytest.raises(DatabaseError) as caught:
            await client.query("SELECT * FROM no_such_table_here")
        assert caught.value.code == 60
        await client.command(f"DROP TABLE {table}")
    finally:
        await client.close()


@pytest.mark.parametrize("method", ["lz4", "zstd", "gzip"])
def test_compression_both_ways(
    clickhouse_endpoint: ClickHouseEndpoint, table: str, method: str
) -> None:
    ep = clickhouse_endpoint
    with connect(ep, compress=method) as client:
        client.command(f"CREATE TABLE {table} (x UInt64, s String) ENGINE = MergeTree ORDER BY x")
        client.insert(table, [[i, "abc" * 20] for i in range(20_000)], column_names=["x", "s"])
        rows = client.query(f"SELECT x, s FROM {table} ORDER BY x").result_rows
        assert len(rows) == 20_000
        assert rows[-1] == (19_999, "abc" * 20)

    packers = {
        "lz4": lz4.frame.compress,
        "zstd": lambda b: zstandard.ZstdCompressor().compress(b),
        "gzip": gzip.compress,
    }
    unpackers = {
        "lz4": lz4.frame.decompress,
        "zstd": lambda b: zstandard.ZstdDecompressor().decompress(b),
        "gzip": gzip.decompress,
    }
    pack = packers[method]
    # Two frames/members in one body, as clickhouse-connect sends one per block.
    body = pack(f"INSERT INTO {table} FORMAT CSV\n20000,x\n".encode()) + pack(b"20001,y\n")
    resp = post(ep, body, headers={"Content-Encoding": method})
    assert resp.status == 200, resp.data

    query = f"SELECT x, s FROM {table} ORDER BY x FORMAT TSV"
    resp = post(
        ep,
        query,
        params={"enable_http_compression": "1"},
        headers={"Accept-Encoding": method},
    )
    assert resp.headers["Content-Encoding"] == method
    text = unpackers[method](resp.data)
    assert len(text) > len(resp.data)
    assert text.endswith(b"20000\tx\n20001\ty\n")
    plain = post(ep, query, headers={"Accept-Encoding": method})  # not enabled: not compressed
    assert "Content-Encoding" not in plain.headers
    assert plain.data == text
    resp = post(ep, "SELECT 1", headers={"Content-Encoding": "snappy"})
    assert resp.headers["X-ClickHouse-Exception-Code"] == "48"
    post(ep, f"DROP TABLE {table}")


# --- processes --------------------------------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import sys, clickhouse_connect
    host, port, user, password, table = sys.argv[1:6]
    client = clickhouse_connect.get_client(
        host=host, port=int(port), username=user, password=password
    )
    client.command(f"CREATE TABLE {table} (i UInt64, p String) ENGINE = MergeTree ORDER BY i")
    seen = 0
    for batch in range(20):
        rows = [[batch * 5000 + k, table] for k in range(5000)]
        client.insert(table, rows, column_names=["i", "p"])
        seen = client.query(f"SELECT count() FROM {table}").first_row[0]
        assert seen == (batch + 1) * 5000, seen
    print(seen)
    """
)


def test_two_processes_write_and_read_at_once(
    clickhouse_endpoint: ClickHouseEndpoint, admin: Client, tmp_path: Path
) -> None:
    ep = clickhouse_endpoint
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    tables = [f"proc_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(script),
                ep.host,
                str(ep.port),
                ep.admin_user,
                ep.admin_password,
                name,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for name in tables
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
        assert out.strip() == b"100000"
    for name in tables:
        count, distinct, label = admin.query(
            f"SELECT count(), uniqExact(i), any(p) FROM {name}"
        ).first_row
        assert (count, distinct, label) == (100_000, 100_000, name)
        admin.command(f"DROP TABLE {name}")


def test_restart_keeps_data_and_the_directory_is_locked(tmp_path: Path) -> None:
    users_file, password, _ = make_users_file(tmp_path)
    first = ServerProcess(tmp_path / "data", users_file).start()
    try:
        client = clickhouse_connect.get_client(
            host=first.host, port=first.port, username="cairn", password=password
        )
        client.command("CREATE TABLE kept (x UInt32) ENGINE = MergeTree ORDER BY x")
        client.insert("kept", [[i] for i in range(1000)], column_names=["x"])
        client.close()

        rival = ServerProcess(tmp_path / "data", users_file)
        proc = rival.launch()
        assert proc.wait(timeout=60) == 3
        assert f"in use by another server (pid {first.pid})" in rival.log_tail()
    finally:
        assert first.stop() == 0

    second = ServerProcess(tmp_path / "data", users_file).start()
    client = clickhouse_connect.get_client(
        host=second.host, port=second.port, username="cairn", password=password
    )
    assert client.query("SELECT count(), sum(x) FROM kept").first_row == (1000, 499_500)
    client.insert("kept", [[i] for i in range(1000, 2000)], column_names=["x"])
    client.close()
    # A crash (no clean shutdown) loses nothing that was acknowledged, and frees the directory.
    assert second.proc is not None
    os.kill(second.pid, signal.SIGKILL)
    second.proc.wait(timeout=30)

    third = ServerProcess(tmp_path / "data", users_file).start()
    try:
        client = clickhouse_connect.get_client(
            host=third.host, port=third.port, username="cairn", password=password
        )
        assert client.query("SELECT count(), sum(x) FROM kept").first_row == (2000, 1_999_000)
        client.close()
    finally:
        assert third.stop() == 0
