"""Session fixture: one real Kafka 4.1.1 broker (KRaft) on a free port, stopped by PID at the end.

Tests that need isolation create their own randomly named topics (``unique_topic``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from localstack import kafka_broker as broker_lib
from localstack.processes import free_port


def kafka_cache_dir() -> Path:
    return Path(os.environ.get("CAIRN_CACHE_DIR", Path.home() / ".cache" / "cairn"))


@contextmanager
def running_broker(data_dir: Path) -> Iterator[broker_lib.RunningBroker]:
    """A broker of its own on free ports, storing in ``data_dir``; stopped on leaving."""
    config = broker_lib.BrokerConfig(
        data_dir=data_dir, port=free_port(), controller_port=free_port()
    )
    broker = broker_lib.start(config, cache_dir=kafka_cache_dir(), log_path=data_dir / "kafka.log")
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[broker_lib.RunningBroker]:
    """A running broker; ``.bootstrap`` is its ``host:port``."""
    with running_broker(tmp_path_factory.mktemp("kafka")) as broker:
        yield broker


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: broker_lib.RunningBroker) -> str:
    return kafka_broker.bootstrap


@pytest.fixture
def unique_topic() -> str:
    """A topic name no other test uses."""
    return f"test.{uuid.uuid4().hex[:12]}"
