"""The cluster profile fixture (tests/cluster/harness.py).

The fault tests and the `cairn up --profile cluster` test each start three Kafka JVMs, two
ingest and three processors processes and take several minutes on 2 cores, so `make test` leaves
them to their own CI step: `make test-cluster` (which .ci/run calls) sets CAIRN_CLUSTER_TESTS=1.
Without it they are reported as skipped.
"""

import os

import pytest

from tests.cluster.harness import cluster

__all__ = ["cluster"]

CLUSTER_STEP = ("test_faults.py", "test_profile.py")  # the modules `make test-cluster` runs


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if os.environ.get("CAIRN_CLUSTER_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="cluster profile tests run in `make test-cluster` (.ci/run)")
    for item in items:
        if item.path.name in CLUSTER_STEP and item.path.parent.name == "cluster":
            item.add_marker(skip)
