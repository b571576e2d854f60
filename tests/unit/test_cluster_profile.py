"""The cluster profile's shape, without starting anything: which parts, on which ports, what the
local-stack file records, and the refusal to start one profile over another (pure logic; the
profile itself comes up in tests/cluster/test_profile.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cairn_contract.errors import ConfigError
from localstack.bootstrap import _claim_home
from localstack.secrets import LocalSecrets
from localstack.settings import CLUSTER, SINGLE, StackSettings
from localstack.stack import Supervisor, parts


def settings_in(home: Path) -> StackSettings:
    return StackSettings(home=home, cache_dir=home / "cache", discovery_file=home / "ls.json")


def test_the_cluster_replicates_kafka_ingest_and_processors_on_strided_ports(
    tmp_path: Path,
) -> None:
    cluster = settings_in(tmp_path).with_profile(CLUSTER)
    found = parts(cluster, LocalSecrets("a", "r", "k"), {})
    assert [p.name for p in found] == [
        "kafka-1", "kafka-2", "kafka-3", "clickhouse", "ingest-1", "ingest-2",
        "processors-1", "processors-2", "processors-3", "portal",
    ]  # fmt: skip
    assert cluster.kafka_bootstrap == "127.0.0.1:9092,127.0.0.1:9102,127.0.0.1:9112"
    assert cluster.ingest_url == "127.0.0.1:50051,127.0.0.1:50061"
    by_name = {p.name: p for p in found}
    assert by_name["ingest-2"].env["CAIRN_INGEST_LISTEN"] == "127.0.0.1:50061"
    assert by_name["ingest-2"].env["CAIRN_INGEST_METRICS_PORT"] == "9474"
    assert by_name["ingest-1"].env["CAIRN_KAFKA_BOOTSTRAP"] == cluster.kafka_bootstrap
    workers = [by_name[f"processors-{i}"].env for i in (1, 2, 3)]
    assert [w["CAIRN_PROCESSORS_PORT"] for w in workers] == ["6066", "6076", "6086"]
    assert len({w["CAIRN_PROCESSORS_DATA_DIR"] for w in workers}) == 3  # own local state each
    assert all("CAIRN_PROCESSORS_GROUP" not in w for w in workers)  # one (default) group
    assert cluster.discovery_record()["profile"] == CLUSTER


def test_the_single_profile_is_the_default_and_unchanged(tmp_path: Path) -> None:
    single = StackSettings.from_env({"CAIRN_HOME": str(tmp_path)})
    assert single.profile == SINGLE
    found = parts(single, LocalSecrets("a", "r", "k"), {})
    assert [p.name for p in found] == ["kafka", "clickhouse", "ingest", "processors", "portal"]
    assert (single.kafka_bootstrap, single.ingest_url) == ("127.0.0.1:9092", "127.0.0.1:50051")


def test_an_unknown_profile_is_refused_naming_the_option(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--profile must be one of single, cluster") as caught:
        settings_in(tmp_path).with_profile("swarm")
    assert caught.value.field == "profile"


def test_the_home_remembers_its_profile_and_refuses_another_over_running_parts(
    tmp_path: Path,
) -> None:
    cluster = settings_in(tmp_path).with_profile(CLUSTER)
    _claim_home(cluster, Supervisor(cluster))
    assert StackSettings.from_env({"CAIRN_HOME": str(tmp_path)}).profile == CLUSTER

    single = settings_in(tmp_path)
    cluster.run_dir.mkdir(parents=True)
    (cluster.run_dir / "kafka-1.pid").write_text(str(os.getpid()))  # a live process
    with pytest.raises(ConfigError, match=r"a cluster stack runs in .*kafka-1.*cairn down") as no:
        _claim_home(single, Supervisor(single))
    assert no.value.field == "profile"
    (cluster.run_dir / "kafka-1.pid").unlink()
    _claim_home(single, Supervisor(single))  # nothing runs: the home switches profile
    assert StackSettings.from_env({"CAIRN_HOME": str(tmp_path)}).profile == SINGLE
