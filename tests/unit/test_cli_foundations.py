"""The ``cairn`` command's foundations: one-line errors, ``--debug``, finding the local stack from
any directory, and the pure parts of ``cairn sql`` (parameters, statement kinds, engine errors)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from cairn import cli
from cairn_contract.errors import AuthenticationError, ConfigError, ErrorCode, ValidationError
from localstack.settings import DISCOVERY_KEY, StackSettings
from query.adhoc_sql import SqlError, engine_error, parse_params, returns_rows
from query.client import ClickHouseTarget


def _boom(exc: BaseException) -> Any:
    def register(subparsers: Any) -> None:
        parser = subparsers.add_parser("boom")

        def func(args: Any) -> int:
            raise exc

        parser.set_defaults(func=func)

    return register


@pytest.fixture
def boom_verb(monkeypatch: pytest.MonkeyPatch) -> list[BaseException]:
    """A ``cairn boom`` verb that raises whatever the test puts in the list."""
    raised: list[BaseException] = []
    real = cli.build_parser

    def build() -> Any:
        parser = real()
        subparsers = next(a for a in parser._actions if a.dest == "command")
        _boom(raised[0])(subparsers)
        return parser

    monkeypatch.setattr(cli, "build_parser", build)
    monkeypatch.delenv("CAIRN_DEBUG", raising=False)
    return raised


def test_a_cairn_error_is_one_line_with_its_code(
    boom_verb: list[BaseException], capsys: pytest.CaptureFixture[str]
) -> None:
    boom_verb.append(ConfigError("no stack here: run `make up`\nsecond line never shown"))
    assert cli.main(["boom"]) == 2
    out, err = capsys.readouterr()
    assert (out, err) == ("", "cairn boom: no stack here: run `make up` [config]\n")


def test_an_unexpected_error_is_one_line_and_points_at_debug(
    boom_verb: list[BaseException], capsys: pytest.CaptureFixture[str]
) -> None:
    boom_verb.append(KeyError("x"))
    assert cli.main(["boom"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(
        "cairn boom: unexpected KeyError: 'x' (a bug in Cairn: rerun with --debug"
    )
    assert "Traceback" not in err


def test_debug_prints_the_traceback_then_the_line(
    boom_verb: list[BaseException], capsys: pytest.CaptureFixture[str]
) -> None:
    boom_verb.append(ValidationError("bad value", field="x"))
    assert cli.main(["--debug", "boom"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last)")
    assert err.splitlines()[-1] == "cairn boom: bad value [invalid_argument]"


def test_interrupt_exits_130(boom_verb: list[BaseException]) -> None:
    boom_verb.append(KeyboardInterrupt())
    assert cli.main(["boom"]) == 130


def _record(path: Path, home: Path, **ports: int) -> None:
    path.write_text(
        json.dumps(
            {"ingest_url": "x", DISCOVERY_KEY: {"home": str(home), "host": "127.0.0.1", **ports}}
        )
    )


def test_the_recorded_stack_is_found_from_any_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "checkout" / ".cairn"
    home.mkdir(parents=True)
    discovery = tmp_path / "local-stack.json"
    _record(discovery, home, clickhouse_port=18123, portal_port=18501)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    settings = StackSettings.from_env({"CAIRN_LOCAL_STACK_FILE": str(discovery)})
    assert settings.home == home.resolve()
    assert (settings.clickhouse_port, settings.portal_port, settings.ingest_port) == (
        18123,
        18501,
        50051,
    )
    # Variables still win over the record.
    moved = StackSettings.from_env(
        {"CAIRN_LOCAL_STACK_FILE": str(discovery), "CAIRN_CLICKHOUSE_PORT": "9999"}
    )
    assert moved.clickhouse_port == 9999
    explicit = StackSettings.from_env(
        {"CAIRN_LOCAL_STACK_FILE": str(discovery), "CAIRN_HOME": str(elsewhere)}
    )
    assert (explicit.home, explicit.clickhouse_port) == (elsewhere.resolve(), 8123)


def test_without_a_usable_record_the_home_is_dot_cairn_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    discovery = tmp_path / "local-stack.json"
    for content in (None, "not json", json.dumps({"api_key": "k"})):
        if content is not None:
            discovery.write_text(content)
        settings = StackSettings.from_env({"CAIRN_LOCAL_STACK_FILE": str(discovery)})
        assert settings.home == (tmp_path / ".cairn").resolve()
    _record(discovery, tmp_path / "deleted-home", clickhouse_port=1)
    gone = StackSettings.from_env({"CAIRN_LOCAL_STACK_FILE": str(discovery)})
    assert (gone.home, gone.clickhouse_port) == ((tmp_path / ".cairn").resolve(), 8123)


def test_the_record_round_trips(tmp_path: Path) -> None:
    settings = StackSettings.from_env({"CAIRN_HOME": str(tmp_path), "CAIRN_PORTAL_PORT": "7"})
    discovery = tmp_path / "local-stack.json"
    discovery.write_text(json.dumps({DISCOVERY_KEY: settings.discovery_record()}))
    found = StackSettings.from_env({"CAIRN_LOCAL_STACK_FILE": str(discovery)})
    assert found == StackSettings(**{**settings.__dict__, "discovery_file": discovery.resolve()})


def test_params_are_name_value_pairs() -> None:
    assert parse_params(["lr=0.1", "name=a=b", "empty="]) == {
        "lr": "0.1",
        "name": "a=b",
        "empty": "",
    }
    for bad in ("lr", "=1", "1x=2", "a-b=3"):
        with pytest.raises(ValidationError, match="must be NAME=VALUE") as caught:
            parse_params([bad])
        assert caught.value.field == "param"


@pytest.mark.parametrize(
    ("sql", "rows"),
    [
        ("SELECT 1", True),
        ("  with x as (select 1) select * from x", True),
        ("-- note\n/* c */ SHOW TABLES", True),
        ("(SELECT 1) UNION ALL (SELECT 2)", True),
        ("DESCRIBE cairn_reporting.runs", True),
        ("EXPLAIN SELECT 1", True),
        ("CREATE TABLE t (a UInt8) ENGINE = Memory", False),
        ("SET max_threads = 1", False),
        ("INSERT INTO t VALUES (1)", False),
        ("", False),
    ],
)
def test_which_statements_answer_with_rows(sql: str, rows: bool) -> None:
    assert returns_rows(sql) is rows


TARGET = ClickHouseTarget.from_url("http://reporting:secret@127.0.0.1:8123/cairn")


def test_engine_errors_keep_the_code_and_name_on_one_line() -> None:
    text = (
        "HTTPDriver for http://127.0.0.1:8123 received ClickHouse error code 47\n"
        " Code: 47. DB::Exception: Unknown expression identifier `nope`. (UNKNOWN_IDENTIFIER) "
        "(version 26.9.2.1) (for url http://127.0.0.1:8123)"
    )
    error = engine_error(text, TARGET)
    assert isinstance(error, SqlError)
    assert (error.engine_code, error.engine_name, error.code) == (
        47,
        "UNKNOWN_IDENTIFIER",
        ErrorCode.INVALID_ARGUMENT,
    )
    assert str(error) == "Code: 47. UNKNOWN_IDENTIFIER: Unknown expression identifier `nope`"
    missing = engine_error(
        "Code: 456. DB::Exception: Substitution `y` is not set. (UNKNOWN_QUERY_PARAMETER)", TARGET
    )
    assert str(missing).endswith("is not set: pass its value with --param NAME=VALUE")


def test_authentication_failures_hide_the_password_and_say_where_the_url_is() -> None:
    error = engine_error(
        "Code: 516. DB::Exception: reporting: Authentication failed. (AUTHENTICATION_FAILED)",
        TARGET,
    )
    assert isinstance(error, AuthenticationError)
    assert "secret" not in str(error)
    assert "http://reporting:***@127.0.0.1:8123/cairn" in str(error)
    assert "`cairn sql --url`" in str(error)


def test_no_stack_is_a_config_error_saying_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in [k for k in os.environ if k.startswith("CAIRN_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CAIRN_LOCAL_STACK_FILE", str(tmp_path / "none.json"))
    assert cli.main(["sql", "SELECT 1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "no local stack found" in err
    assert "`make up`" in err
    assert err.rstrip().endswith("[config]")
