"""``cairn replay`` finds the local stack through an entry point, never by importing it."""

from __future__ import annotations

from pathlib import Path

from localstack import secrets as local_secrets
from localstack.settings import StackSettings
from processors.cli import _replay_target


def test_no_local_stack_means_the_processors_settings_decide(tmp_path: Path) -> None:
    assert _replay_target({"CAIRN_HOME": str(tmp_path / "nothing-here")}) is None


def test_a_running_local_stack_is_the_target(tmp_path: Path) -> None:
    env = {"CAIRN_HOME": str(tmp_path), "CAIRN_KAFKA_PORT": "19092"}
    stack = StackSettings.from_env(env)
    secrets = local_secrets.load_or_create(stack.secrets_path)

    target = _replay_target(env)

    assert target is not None
    assert target.clickhouse_url == stack.admin_clickhouse_url(secrets)
    assert target.kafka_bootstrap == stack.kafka_bootstrap
