"""Settings resolution: explicit arguments, then CAIRN_* variables, then the local-stack file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cairn.config import Capture, FsyncPolicy, Mode, Settings, resolve_settings
from cairn.errors import ConfigError


@pytest.fixture
def stack_file(tmp_path: Path) -> Path:
    path = tmp_path / "local-stack.json"
    path.write_text(
        json.dumps(
            {
                "ingest_url": "127.0.0.1:50051",
                "api_key": "cairn_abc_file",
                "portal_url": "http://127.0.0.1:8501",
                "team": "local",
                "unrelated": "ignored",
            }
        )
    )
    return path


def test_the_local_stack_file_fills_what_nothing_else_sets(stack_file: Path) -> None:
    settings = resolve_settings(env={}, stack_file=stack_file)
    assert (settings.ingest_url, settings.api_key, settings.team, settings.portal_url) == (
        "127.0.0.1:50051",
        "cairn_abc_file",
        "local",
        "http://127.0.0.1:8501",
    )
    assert settings.project == "default"
    assert settings.mode is Mode.ONLINE


def test_environment_overrides_the_file_and_arguments_override_both(
    stack_file: Path, tmp_path: Path
) -> None:
    env = {
        "CAIRN_INGEST_URL": "ingest.example:443",
        "CAIRN_API_KEY": "cairn_env",
        "CAIRN_TEAM": "risk",
        "CAIRN_PROJECT": "churn",
        "CAIRN_DIR": str(tmp_path / "d"),
        "CAIRN_MODE": "OFFLINE",
        "CAIRN_SPOOL_MAX_BYTES": "1000",
        "CAIRN_SPOOL_FSYNC": "always",
        "CAIRN_BUFFER_MAX_POINTS": "5000",
        "CAIRN_FINISH_TIMEOUT": "2.5",
        "CAIRN_SYSTEM_METRICS_INTERVAL": "0",
        "CAIRN_CAPTURE_OFF": "diff, packages",
    }
    settings = resolve_settings({"team": "vision", "api_key": None}, env=env, stack_file=stack_file)
    assert settings.ingest_url == "ingest.example:443"
    assert settings.api_key == "cairn_env"
    assert settings.team == "vision"
    assert settings.project == "churn"
    assert settings.dir == tmp_path / "d"
    assert settings.mode is Mode.OFFLINE
    assert (settings.spool_max_bytes, settings.spool_fsync) == (1000, FsyncPolicy.ALWAYS)
    assert settings.buffer_max_points == 5000
    assert (settings.finish_timeout_s, settings.system_metrics_interval_s) == (2.5, 0.0)
    assert settings.capture == Capture(diff=False, packages=False)
    assert settings.portal_url == "http://127.0.0.1:8501"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CAIRN_SPOOL_MAX_BYTES": "lots"}, "CAIRN_SPOOL_MAX_BYTES must be an integer, got 'lots'"),
        ({"CAIRN_SPOOL_MAX_BYTES": "0"}, "CAIRN_SPOOL_MAX_BYTES must be > 0, got 0"),
        ({"CAIRN_BUFFER_MAX_POINTS": "0"}, "CAIRN_BUFFER_MAX_POINTS must be > 0, got 0"),
        ({"CAIRN_FINISH_TIMEOUT": "-1"}, "CAIRN_FINISH_TIMEOUT must be >= 0, got -1.0"),
        (
            {"CAIRN_MODE": "sometimes"},
            "mode must be one of online, offline, disabled, got 'sometimes'",
        ),
        (
            {"CAIRN_CAPTURE_OFF": "gitt"},
            "CAIRN_CAPTURE_OFF: unknown capture ['gitt']; known: git, diff, environment, packages, gpu, command, system_metrics",
        ),
    ],
)
def test_malformed_settings_are_config_errors_naming_the_variable(
    env: dict[str, str], message: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_settings(env=env, stack_file=tmp_path / "none.json")
    assert str(caught.value) == message


def test_capture_accepts_a_switch_a_mapping_or_all_off(tmp_path: Path) -> None:
    none = tmp_path / "none.json"
    assert (
        resolve_settings({"capture": False}, env={}, stack_file=none).capture == Capture.nothing()
    )
    assert resolve_settings(
        {"capture": {"gpu": False}}, env={}, stack_file=none
    ).capture == Capture(gpu=False)
    assert (
        resolve_settings(env={"CAIRN_CAPTURE_OFF": "all"}, stack_file=none).capture
        == Capture.nothing()
    )
    with pytest.raises(ConfigError, match=r"capture: unknown \['gpus'\]"):
        resolve_settings({"capture": {"gpus": False}}, env={}, stack_file=none)


def test_unknown_settings_and_a_broken_stack_file_are_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown settings: colour"):
        resolve_settings({"colour": "blue"}, env={}, stack_file=tmp_path / "none.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(ConfigError, match=r"broken.json is not readable JSON"):
        resolve_settings(env={}, stack_file=broken)


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("127.0.0.1:50051", ("127.0.0.1:50051", False)),
        ("grpc://ingest:50051", ("ingest:50051", False)),
        ("grpcs://ingest.example.com:443", ("ingest.example.com:443", True)),
    ],
)
def test_ingest_urls_name_a_target_and_whether_to_use_tls(
    url: str, target: tuple[str, bool]
) -> None:
    assert Settings(ingest_url=url).target() == target


def test_a_malformed_ingest_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^ingest_url must look like host:port"):
        Settings(ingest_url="http://ingest").target()


def test_the_local_stack_file_can_be_moved_like_cairn_up_moves_it(stack_file: Path) -> None:
    settings = resolve_settings(env={"CAIRN_LOCAL_STACK_FILE": str(stack_file)})
    assert (settings.team, settings.api_key) == ("local", "cairn_abc_file")
