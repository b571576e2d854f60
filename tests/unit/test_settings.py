"""Settings come from CAIRN_* variables, with clear errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from cairn.errors import ConfigError, ErrorCode
from localstack.secrets import LocalSecrets
from localstack.settings import StackSettings
from processors.settings import ProcessorsSettings
from query.client import ClickHouseTarget
from servicekit.envconfig import read_bool, read_int, split_host_port


def test_stack_defaults_are_the_documented_local_addresses(tmp_path: Path) -> None:
    settings = StackSettings.from_env({"CAIRN_HOME": str(tmp_path)})
    assert settings.home == tmp_path.resolve()
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.ingest_address == "127.0.0.1:50051"
    assert settings.portal_url == "http://127.0.0.1:8501"
    assert settings.clickhouse_url("u", "p") == "http://u:p@127.0.0.1:8123/cairn"
    secrets = LocalSecrets(clickhouse_admin_password="a", clickhouse_reporting_password="r")
    assert settings.admin_clickhouse_url(secrets) == "http://cairn:a@127.0.0.1:8123/cairn"
    assert settings.reporting_clickhouse_url(secrets) == "http://reporting:r@127.0.0.1:8123/cairn"


def test_every_port_can_be_moved_by_its_variable(tmp_path: Path) -> None:
    settings = StackSettings.from_env(
        {"CAIRN_HOME": str(tmp_path), "CAIRN_KAFKA_PORT": "19092", "CAIRN_PORTAL_PORT": "18501"}
    )
    assert settings.kafka_bootstrap == "127.0.0.1:19092"
    assert settings.portal_url == "http://127.0.0.1:18501"


def test_malformed_integer_names_the_variable() -> None:
    with pytest.raises(
        ConfigError, match="CAIRN_KAFKA_PORT must be an integer, got 'ninety'"
    ) as info:
        StackSettings.from_env({"CAIRN_KAFKA_PORT": "ninety"})
    assert info.value.code is ErrorCode.CONFIG
    assert info.value.field == "CAIRN_KAFKA_PORT"


def test_integer_below_minimum_is_rejected() -> None:
    with pytest.raises(ConfigError, match="CAIRN_FLUSH_MAX_EVENTS must be >= 1, got 0"):
        ProcessorsSettings.from_env({"CAIRN_FLUSH_MAX_EVENTS": "0"})


def test_processors_memory_bounds_are_read_from_their_variables() -> None:
    settings = ProcessorsSettings.from_env(
        {"CAIRN_FLUSH_MAX_BYTES": "1048576", "CAIRN_STREAM_BUFFER_EVENTS": "50"}
    )
    assert (settings.flush_max_bytes, settings.stream_buffer_events) == (1_048_576, 50)
    defaults = ProcessorsSettings.from_env({})
    assert (defaults.flush_max_bytes, defaults.stream_buffer_events) == (32 * 2**20, 1_000)


@pytest.mark.parametrize(
    ("raw", "expected"), [("1", True), ("true", True), ("off", False), ("", False)]
)
def test_booleans_accept_common_spellings(raw: str, expected: bool) -> None:
    assert read_bool({"X": raw}, "X", not expected) is expected


def test_boolean_rejects_anything_else() -> None:
    with pytest.raises(ConfigError, match="X must be a boolean"):
        read_bool({"X": "maybe"}, "X", False)


def test_missing_variable_gives_default() -> None:
    assert read_int({}, "X", 7) == 7


def test_host_port_split_and_error() -> None:
    assert split_host_port("127.0.0.1:9092", name="B") == ("127.0.0.1", 9092)
    assert split_host_port("[::1]:50051", name="B") == ("::1", 50051)
    with pytest.raises(ConfigError, match="B must look like host:port"):
        split_host_port("localhost", name="B")


def test_clickhouse_url_parses_credentials_and_database() -> None:
    target = ClickHouseTarget.from_url("http://reporting:s%40cret@127.0.0.1:8123/cairn")
    assert (target.host, target.port, target.username, target.password, target.database) == (
        "127.0.0.1",
        8123,
        "reporting",
        "s@cret",
        "cairn",
    )
    assert "s@cret" not in target.redacted()


def test_clickhouse_url_rejects_other_schemes() -> None:
    with pytest.raises(ConfigError, match="ClickHouse URL must look like"):
        ClickHouseTarget.from_url("tcp://127.0.0.1:9000")
