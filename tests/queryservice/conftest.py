"""One world per module of query-service tests (see world.py)."""

from __future__ import annotations

import pytest

from tests.pipeline import Pipeline
from tests.queryservice.world import World, build


@pytest.fixture(scope="module")
def world(pipeline: Pipeline, tmp_path_factory: pytest.TempPathFactory) -> World:
    return build(pipeline, tmp_path_factory.mktemp("qs-world"))
