"""Pure logic of the ClickHouse HTTP endpoint: statement splitting, options, auth, codecs.

No engine and no sockets here; tests/integration/test_clickhouse_http.py drives the server.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import stat
import zlib
from email.message import Message
from pathlib import Path

import lz4.frame
import pytest
import zstandard

from localstack import _ch_errors as errors
from localstack import _ch_io as chio
from localstack import _ch_sql as sql
from localstack._ch_request import parse_options, read_statement
from localstack._ch_users import UserDirectory, credentials, load_users
from localstack.clickhouse_http import write_users_file


def headers(**values: str) -> Message:
    msg = Message()
    for name, value in values.items():
        msg[name.replace("_", "-")] = value
    return msg


# --- statement splitting --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "head", "fmt", "data"),
    [
        (
            "INSERT INTO t (a, b) FORMAT Native\n\x01\x02",
            "INSERT INTO t (a, b)",
            "Native",
            "\x01\x02",
        ),
        ("insert into db.t format CSV\r\n1,2\n", "insert into db.t", "CSV", "1,2\n"),
        ("INSERT INTO t FORMAT TSV  \t1\t2\n", "INSERT INTO t", "TSV", "1\t2\n"),
        ('INSERT INTO t FORMAT JSONEachRow {"a": 1}', "INSERT INTO t", "JSONEachRow", '{"a": 1}'),
        ("INSERT INTO t FORMAT `CSV`\n1\n", "INSERT INTO t", "CSV", "1\n"),
        (
            "INSERT INTO t SETTINGS async_insert = 0 FORMAT CSV\n1\n",
            "INSERT INTO t SETTINGS async_insert = 0",
            "CSV",
            "1\n",
        ),
        (
            "INSERT INTO t VALUES (1, 'a'), (2, 'b')",
            "INSERT INTO t",
            "Values",
            " (1, 'a'), (2, 'b')",
        ),
        (
            "/* FORMAT CSV */ INSERT INTO `FORMAT` ('format', \"values\") -- VALUES\nFORMAT CSV\nx",
            "/* FORMAT CSV */ INSERT INTO `FORMAT` ('format', \"values\") -- VALUES",
            "CSV",
            "x",
        ),
        (
            "INSERT INTO t SELECT * FROM input('a UInt8') FORMAT CSV\n1\n",
            "INSERT INTO t SELECT * FROM input('a UInt8')",
            "CSV",
            "1\n",
        ),
        (
            "INSERT INTO t FORMAT Native\n'unbalanced quote in data",
            "INSERT INTO t",
            "Native",
            "'unbalanced quote in data",
        ),
    ],
)
def test_insert_data_boundary(text: str, head: str, fmt: str, data: str) -> None:
    split = sql.split_statement(text, complete=True)
    assert split.shape is sql.Shape.INSERT_DATA
    assert (split.head, split.input_format, text[split.data_offset :]) == (head, fmt, data)


@pytest.mark.parametrize(
    "text",
    [
        "SELECT 1 FORMAT Native",
        "  -- comment\n  WITH 1 AS x SELECT x",
        "INSERT INTO t SELECT number FROM numbers(3)",
        "INSERT INTO t FROM INFILE 'x.csv' FORMAT CSV",
        "CREATE TABLE t (a UInt8) ENGINE = Memory",
    ],
)
def test_statements_without_inline_data(text: str) -> None:
    assert sql.split_statement(text, complete=True).shape is sql.Shape.PLAIN


@pytest.mark.parametrize(
    "partial",
    [
        "",
        "INS",
        "INSERT INTO t",
        "INSERT INTO t FORMAT",
        "INSERT INTO t FORMAT Nat",
        "INSERT INTO t FORMAT CSV  ",
        "INSERT INTO 't",
    ],
)
def test_a_cut_statement_asks_for_more(partial: str) -> None:
    assert sql.split_statement(partial, complete=False).shape is sql.Shape.NEED_MORE


def test_read_statement_across_chunks() -> None:
    chunks = [b"INSERT INTO t FOR", b"MAT Native", b"\n\x00\x01", b"\x02"]
    split, first, rest = read_statement(b"", iter(chunks))
    assert split.head == "INSERT INTO t"
    assert first + b"".join(rest) == b"\x00\x01\x02"

    split, text, rest = read_statement(b"SELECT\n", iter([b" 1", b" + 1"]))
    assert (split.shape, text, list(rest)) == (sql.Shape.PLAIN, b"SELECT\n 1 + 1", [])

    split, first, rest = read_statement(b"INSERT INTO t FORMAT CSV\n", iter([b"1\n2\n"]))
    assert (split.input_format, first, list(rest)) == ("CSV", b"", [b"1\n2\n"])


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        ("SELECT 1 FORMAT JSON", "JSON"),
        ("SELECT 1\n FORMAT Native;", "Native"),
        ("SELECT 1 FORMAT CSV SETTINGS max_threads = 1", "CSV"),
        ("SELECT format FROM t", None),
        ("SELECT format('{}', 'x')", None),
        ("SELECT 'FORMAT JSON'", None),
        ("SELECT 1 AS format", None),
        ("SELECT (SELECT 1 FORMAT JSON)", None),
    ],
)
def test_output_format(text: str, fmt: str | None) -> None:
    assert sql.output_format(text) == fmt


def test_external_table_structures() -> None:
    assert sql.split_columns("a UInt32, `b c` Array(String), e Enum8('x,y' = 1)") == [
        ("a", "UInt32"),
        ("b c", "Array(String)"),
        ("e", "Enum8('x,y' = 1)"),
    ]
    assert sql.split_columns('"q""uote" Map(String, Tuple(x UInt8, y String))') == [
        ('q"uote', "Map(String, Tuple(x UInt8, y String))")
    ]
    for bad in ("a", "a UInt8; DROP TABLE t", ", a UInt8", "a Enum8('x"):
        with pytest.raises(ValueError, match="structure"):
            sql.split_columns(bad)
    assert sql.escape_param("a\\b\tc\nd") == "a\\\\b\\tc\\nd"
    assert sql.is_format_name("CSVWithNames")
    assert not sql.is_format_name("CSV; DROP")


def test_quoting() -> None:
    assert sql.quote_string("it's a \\ test") == "'it\\'s a \\\\ test'"
    assert sql.quote_identifier("we`ird") == "`we\\`ird`"
    assert sql.set_statement({"max_threads": "1", "log_comment": "x'"}) == (
        "SET max_threads = '1', log_comment = 'x\\''"
    )
    assert sql.is_setting_name("max_result_rows")
    assert not sql.is_setting_name("x = 1, readonly")
    assert sql.statement_kind("  /* c */ select 1") == "SELECT"


# --- request options -------------------------------------------------------------------------


def test_parse_options_splits_transport_bindings_and_settings() -> None:
    opts = parse_options(
        {
            "query": "SELECT {x:UInt8}",
            "database": "cairn",
            "default_format": "JSON",
            "query_id": "q1",
            "session_id": "s",
            "wait_end_of_query": "1",
            "user": "u",
            "password": "p",
            "param_x": "7",
            "max_result_rows": "10",
            "enable_http_compression": "1",
            "http_zlib_compression_level": "6",
        },
        headers(),
    )
    assert (opts.query, opts.database, opts.default_format, opts.query_id) == (
        "SELECT {x:UInt8}",
        "cairn",
        "JSON",
        "q1",
    )
    assert opts.bind == {"x": "7"}
    assert opts.settings == {
        "max_result_rows": "10",
        "enable_http_compression": "1",
        "http_zlib_compression_level": "6",
    }
    assert (opts.compress_response, opts.compression_level) == (True, 6)


def test_parse_options_defaults_and_headers() -> None:
    opts = parse_options({}, headers(X_ClickHouse_Database="d", X_ClickHouse_Format="CSV"))
    assert (opts.database, opts.default_format, opts.compress_response) == ("d", "CSV", False)
    assert opts.query_id  # generated
    assert parse_options({}, headers()).default_format == "TabSeparated"


def test_parse_options_external_tables() -> None:
    opts = parse_options(
        {"a_structure": "k UInt8, v String", "a_format": "CSV", "b_types": "UInt8,String"},
        headers(),
        {"a": b"1,x\n", "b": b"2\ty\n"},
    )
    assert [(t.name, t.structure, t.fmt, t.data) for t in opts.external] == [
        ("a", "k UInt8, v String", "CSV", b"1,x\n"),
        ("b", "_1 UInt8, _2 String", "TabSeparated", b"2\ty\n"),
    ]
    assert opts.settings == {}
    with pytest.raises(errors.ClickHouseError) as caught:
        parse_options({}, headers(), {"c": b""})
    assert caught.value.code == 36


@pytest.mark.parametrize(
    ("params", "code"),
    [({"compress": "1"}, 48), ({"decompress": "1"}, 48), ({"bad name": "1"}, 115)],
)
def test_parse_options_refusals(params: dict[str, str], code: int) -> None:
    with pytest.raises(errors.ClickHouseError) as caught:
        parse_options(params, headers())
    assert caught.value.code == code


# --- authentication ---------------------------------------------------------------------------


def test_credentials_from_each_method() -> None:
    token = base64.b64encode(b"cairn:p:w").decode()
    assert credentials(headers(Authorization=f"Basic {token}"), {}) == ("cairn", "p:w")
    assert credentials(headers(X_ClickHouse_User="u", X_ClickHouse_Key="k"), {}) == ("u", "k")
    assert credentials(headers(), {"user": "u", "password": "k"}) == ("u", "k")
    assert credentials(headers(), {}) == ("default", "")


@pytest.mark.parametrize(
    ("hdrs", "params"),
    [
        ({"Authorization": "Bearer abc"}, {}),
        ({"Authorization": "Basic !!!"}, {}),
        ({"X_ClickHouse_User": "u"}, {"user": "u"}),
    ],
)
def test_credentials_refusals(hdrs: dict[str, str], params: dict[str, str]) -> None:
    with pytest.raises(errors.ClickHouseError) as caught:
        credentials(headers(**hdrs), params)
    assert caught.value.code == 516


def test_users_file_round_trip_and_reload(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "users.json"
    write_users_file(path, {"cairn": ("s3cret", False), "reporting": ("r", True)})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "s3cret" not in path.read_text()
    users = load_users(path)
    assert (users["cairn"].readonly, users["reporting"].readonly) == (False, True)

    directory = UserDirectory(path)
    assert directory.authenticate("cairn", "s3cret").name == "cairn"
    for name, password in (("cairn", "wrong"), ("nobody", "s3cret"), ("nobody", "")):
        with pytest.raises(errors.ClickHouseError) as caught:
            directory.authenticate(name, password)
        assert (caught.value.code, caught.value.http_status) == (516, 403)

    write_users_file(path, {"cairn": ("rotated", False)})
    assert directory.authenticate("cairn", "rotated").name == "cairn"
    path.write_text("{not json")
    assert directory.authenticate("cairn", "rotated").name == "cairn"  # broken file: keep old


@pytest.mark.parametrize(
    "doc",
    [
        {},
        {"users": []},
        {"users": [{"name": "x"}]},
        {"users": [{"name": "x", "password_sha256": "0" * 64, "readonly": "yes"}]},
    ],
)
def test_invalid_users_files(tmp_path: Path, doc: object) -> None:
    path = tmp_path / "users.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="users file"):
        load_users(path)


# --- errors -------------------------------------------------------------------------------------


def test_engine_errors_keep_code_name_and_text() -> None:
    exc = RuntimeError(
        "Failed to create connection: Code: 60. DB::Exception: Unknown table 'x'. (UNKNOWN_TABLE)"
    )
    err = errors.from_engine(exc)
    assert (err.code, err.name, err.http_status) == (60, "UNKNOWN_TABLE", 404)
    assert err.body("26.9.2.1") == (
        b"Code: 60. DB::Exception: Unknown table 'x'. (UNKNOWN_TABLE) (version 26.9.2.1)\n"
    )
    nested = errors.from_engine(
        RuntimeError("Code: 164. DB::Exception: x. (READONLY) (version 26.9.2.1). (READONLY)")
    )
    assert (nested.code, nested.name, nested.http_status) == (164, "READONLY", 500)
    odd = errors.from_engine(RuntimeError("segfault-ish"))
    assert (odd.code, odd.text) == (
        1002,
        "Code: 1002. DB::Exception: segfault-ish. (UNKNOWN_EXCEPTION)",
    )


def test_statuses_follow_clickhouse() -> None:
    def status(kind: tuple[int, str]) -> int:
        return errors.ClickHouseError.make(kind, "m").http_status

    assert status(errors.SYNTAX_ERROR) == 400
    assert status(errors.AUTHENTICATION_FAILED) == 403
    assert status(errors.UNKNOWN_SETTING) == 404
    assert status(errors.NOT_IMPLEMENTED) == 501
    assert status(errors.ABORTED) == 500


# --- body framing and compression ---------------------------------------------------------------


def test_request_body_chunked_and_sized() -> None:
    raw = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nTrailer: x\r\n\r\nNEXT"
    stream = io.BytesIO(raw)
    body = chio.RequestBody(stream, headers(Transfer_Encoding="chunked"))
    assert body.read_all() == b"Wikipedia"
    assert body.consumed
    assert stream.read() == b"NEXT"  # the next request is untouched

    stream = io.BytesIO(b"hello world")
    body = chio.RequestBody(stream, headers(Content_Length="5"))
    assert body.drain()
    assert stream.read() == b" world"

    with pytest.raises(chio.ClientDisconnected):
        chio.RequestBody(io.BytesIO(b"abc"), headers(Content_Length="10")).read_all()


def test_drain_continues_where_reading_stopped() -> None:
    stream = io.BytesIO(b"3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\nNEXT")
    body = chio.RequestBody(stream, headers(Transfer_Encoding="chunked"))
    assert next(iter(body.chunks())) == b"abc"  # e.g. the engine rejected the first block
    assert body.drain()
    assert stream.read() == b"NEXT"

    truncated = chio.RequestBody(io.BytesIO(b"5\r\nab"), headers(Transfer_Encoding="chunked"))
    assert not truncated.drain()
    garbage = chio.RequestBody(io.BytesIO(b"zz\r\n"), headers(Transfer_Encoding="chunked"))
    assert not garbage.drain()


@pytest.mark.parametrize(
    ("encoding", "pack"),
    [
        ("lz4", lz4.frame.compress),
        ("zstd", lambda b: zstandard.ZstdCompressor().compress(b)),
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
    ],
)
def test_decompression_of_concatenated_frames_in_any_chunking(encoding: str, pack: object) -> None:
    assert callable(pack)
    payload = [bytes(range(256)) * 40, b"second frame", b"x" * 100_000]
    body = b"".join(pack(part) for part in payload)
    for size in (1, 7, 4096, len(body)):
        chunks = [body[i : i + size] for i in range(0, len(body), size)]
        assert b"".join(chio.decompressed(chunks, encoding)) == b"".join(payload)
    with pytest.raises(errors.ClickHouseError) as caught:
        list(chio.decompressed([body[:-3]], encoding))
    assert caught.value.code == 271


def test_unknown_or_corrupt_encodings() -> None:
    assert list(chio.decompressed([b"a", b"b"], "")) == [b"a", b"b"]
    with pytest.raises(errors.ClickHouseError) as caught:
        list(chio.decompressed([b"a"], "snappy"))
    assert caught.value.code == 48
    with pytest.raises(errors.ClickHouseError) as caught:
        list(chio.decompressed([b"definitely not gzip"], "gzip"))
    assert caught.value.code == 271


def test_response_compression_choice_and_output() -> None:
    assert chio.response_encoding("gzip, deflate, zstd") == "zstd"
    assert chio.response_encoding("lz4,gzip") == "lz4"
    assert chio.response_encoding("gzip;q=0.5") == "gzip"
    assert chio.response_encoding("identity") is None
    data = b"abc" * 1000
    assert lz4.frame.decompress(chio.compress(data, "lz4", 3)) == data
    assert zstandard.ZstdDecompressor().decompress(chio.compress(data, "zstd", 3)) == data
    assert gzip.decompress(chio.compress(data, "gzip", 3)) == data
    assert zlib.decompress(chio.compress(data, "deflate", 3)) == data


def test_multipart_form_is_binary_safe() -> None:
    boundary = "b0undary"
    body = (
        b'--b0undary\r\nContent-Disposition: form-data; name="query"\r\n\r\nSELECT 1\r\n'
        b'--b0undary\r\nContent-Disposition: form-data; name="param_x"\r\n\r\nline1\r\nline2\r\n'
        b'--b0undary\r\nContent-Disposition: form-data; name="ext"; filename="ext.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n\x00\r\n\xff--\r\n"
        b"--b0undary--\r\n"
    )
    form = chio.parse_multipart(body, f"multipart/form-data; boundary={boundary}")
    assert form.fields == {"query": "SELECT 1", "param_x": "line1\r\nline2"}
    assert form.files == {"ext": b"\x00\r\n\xff--"}


def test_content_types() -> None:
    assert chio.content_type("Native") == "application/octet-stream"
    assert chio.content_type("TSVWithNames").startswith("text/tab-separated-values")
    assert chio.content_type("JSONEachRow").startswith("application/x-ndjson")
    assert chio.content_type("Pretty").startswith("text/plain")
