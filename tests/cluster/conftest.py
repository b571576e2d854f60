"""The cluster profile fixture (tests/cluster/harness.py).

The fault tests start three Kafka JVMs, two ingest and three processors processes and take
several minutes on 2 cores, so `make test` leaves them to their own CI step: `make test-cluster`
(which .ci/run calls) sets CAIRN_CLUSTER_TESTS=1. Without it they are reported as skipped.
"""

import os

import pytest

from tests.cluster.harness import cluster

__all__ = ["cluster"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if os.environ.get("CAIRN_CLUSTER_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="cluster fault tests run in `make test-cluster` (.ci/run)")
    for item in items:
        if "tests/cluster/test_faults.py" in str(item.path):
            item.add_marker(skip)
