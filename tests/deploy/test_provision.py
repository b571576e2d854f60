"""``python -m localstack.provision``'s settings and topic specs (pure logic; the cluster tests
run it against three real brokers)."""

from __future__ import annotations

import pytest

from cairn_contract.errors import ConfigError
from localstack.provision import ProvisionSettings, replicated_topics
from servicekit import topics


def test_topics_are_replicated_with_min_insync_replicas() -> None:
    specs = {s.name: s for s in replicated_topics(3, 2, 24)}
    own = {topics.AUTOMATIONS.name, topics.AUTOMATIONS_DLQ.name}  # the processors' topics too
    assert set(specs) == {t.name for t in topics.ALL_TOPICS} | own
    assert specs[topics.EVENTS_TOPIC].partitions == 24
    assert specs[topics.IDENTITY_TOPIC].partitions == 1  # one total order of identity events
    for spec in specs.values():
        assert spec.replication_factor == 3
        assert dict(spec.configs)["min.insync.replicas"] == "2"
    for name in (topics.EVENTS_TOPIC, topics.IDENTITY_TOPIC, topics.AUTOMATIONS_DLQ.name):
        assert dict(specs[name].configs)["retention.ms"] == "-1"  # kept forever
    assert specs[topics.AUTOMATIONS.name].configs == tuple(
        (k, "2" if k == "min.insync.replicas" else v) for k, v in topics.AUTOMATIONS.configs
    )  # the outbox keeps its month


def test_min_insync_above_replication_is_refused_naming_the_field() -> None:
    env = {"CAIRN_KAFKA_REPLICATION_FACTOR": "1", "CAIRN_KAFKA_MIN_INSYNC_REPLICAS": "2"}
    with pytest.raises(ConfigError) as caught:
        ProvisionSettings.from_env(env)
    assert caught.value.field == "CAIRN_KAFKA_MIN_INSYNC_REPLICAS"


def test_defaults_fit_the_single_node_stack() -> None:
    settings = ProvisionSettings.from_env({})
    assert (settings.replication_factor, settings.min_insync_replicas) == (1, 1)
    assert settings.events_partitions == 12


def test_the_api_key_pepper_is_read_and_kept_out_of_repr() -> None:
    settings = ProvisionSettings.from_env({"CAIRN_API_KEY_PEPPER": "s3cret-pepper"})
    assert settings.api_key_pepper == "s3cret-pepper"
    assert "s3cret-pepper" not in repr(settings)
