"""deploy/compose: valid against the Compose specification schema (the copy check-jsonschema
ships), and shaped as docs/deploy.md says. No Docker engine runs here, so it is not started."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.tools import COMPOSE, run, tools

# They run the validators deploy/tools/install.sh installs (helm is built once, minutes).
pytestmark = pytest.mark.integration


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def _validate(path: Path) -> tuple[int, str]:
    result = run([tools().check_jsonschema, "--builtin-schema", "vendor.compose-spec", path])
    return result.returncode, result.stdout + result.stderr


def test_compose_file_matches_the_compose_specification() -> None:
    code, output = _validate(COMPOSE)
    assert code == 0, output


def test_the_schema_check_rejects_a_misspelt_key(tmp_path: Path) -> None:
    broken = _compose()
    broken["services"]["ingest-1"]["helthcheck"] = broken["services"]["ingest-1"].pop("healthcheck")
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump(broken))
    code, output = _validate(path)
    assert code != 0
    assert "helthcheck" in output


def _env(service: dict[str, Any]) -> dict[str, str]:
    env: dict[str, str] = service.get("environment", {})
    return env


def test_three_kraft_nodes_replicate_every_topic_three_times() -> None:
    services = _compose()["services"]
    kafka = {name: s for name, s in services.items() if name.startswith("kafka-")}
    assert sorted(kafka) == ["kafka-1", "kafka-2", "kafka-3"]
    voters = {_env(s)["KAFKA_CONTROLLER_QUORUM_VOTERS"] for s in kafka.values()}
    assert voters == {"1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093"}
    assert sorted(_env(s)["KAFKA_NODE_ID"] for s in kafka.values()) == ["1", "2", "3"]
    for service in kafka.values():
        env = _env(service)
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == "2"
        assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
        assert any(v.endswith(":/var/lib/kafka/data") for v in service["volumes"])
    setup = _env(services["setup"])
    assert setup["CAIRN_KAFKA_REPLICATION_FACTOR"] == "3"
    assert setup["CAIRN_KAFKA_MIN_INSYNC_REPLICAS"] == "2"
    assert setup["CAIRN_EVENTS_PARTITIONS"] == "12"


def test_every_long_running_service_has_a_health_check_and_state_is_on_volumes() -> None:
    compose = _compose()
    services = compose["services"]
    for name, service in services.items():
        if name != "setup":
            assert "healthcheck" in service, f"{name} has no health check"
    assert {
        "ingest-1",
        "ingest-2",
        "processors",
        "portal",
        "clickhouse",
        "clickhouse-keeper",
    } <= set(services)
    assert services["processors"]["deploy"]["replicas"] == "${CAIRN_PROCESSORS_REPLICAS:-3}"
    named = set(compose["volumes"])
    assert {
        "clickhouse-data",
        "keeper-data",
        "kafka-1-data",
        "kafka-2-data",
        "kafka-3-data",
    } == named


def test_published_ports_listen_on_loopback_only() -> None:
    for name, service in _compose()["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_cairn_services_run_from_one_hardened_image() -> None:
    services = _compose()["services"]
    cairn = {n: s for n, s in services.items() if s.get("build")}
    assert set(cairn) == {"setup", "ingest-1", "ingest-2", "processors", "portal"}
    for name, service in cairn.items():
        assert service["build"]["dockerfile"] == "deploy/Dockerfile", name
        assert service["read_only"] is True, name
        assert service["cap_drop"] == ["ALL"], name
