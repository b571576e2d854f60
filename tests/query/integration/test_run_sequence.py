"""A run's ``sequence`` has one reader for writers that continue a run (the portal):
:func:`query.run_details.visible_last_sequences`, under the caller's visibility."""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.client import Client

from cairn_contract.errors import NotFoundError
from cairn_contract.v1 import envelope_pb2
from query.access import Caller
from query.run_details import visible_last_sequences
from tests.query.integration.callers import ADMIN, ALICE, CAROL, STRANGER, VISIBLE_RUNS
from tests.query.integration.conftest import World
from tests.query.integration.world import build


def _highest(world: World, run_id: str) -> int:
    return max(
        (
            e.envelope.sequence
            for e in build(world.clock).events
            if e.envelope.aggregate_kind == envelope_pb2.AGGREGATE_KIND_RUN
            and e.envelope.aggregate_id == run_id
        ),
        default=0,
    )


def test_a_visible_run_continues_after_its_highest_recorded_sequence(
    client: Client, world: World
) -> None:
    visible = sorted(VISIBLE_RUNS[ALICE])
    assert visible_last_sequences(client, ALICE, visible) == {
        run_id: _highest(world, run_id) for run_id in visible
    }
    assert _highest(world, "r-churn-1") > 0
    assert visible_last_sequences(client, ADMIN, ["v-det-1"]) == {
        "v-det-1": _highest(world, "v-det-1")
    }


@pytest.mark.parametrize("caller", [ALICE, STRANGER], ids=["other-team", "stranger"])
def test_a_run_the_caller_may_not_see_is_not_found(client: Client, caller: Caller) -> None:
    assert "v-det-1" not in VISIBLE_RUNS[caller]
    with pytest.raises(NotFoundError):
        visible_last_sequences(client, caller, ["v-det-1"])
    with pytest.raises(NotFoundError):  # hidden among visible ones, the whole read is refused
        visible_last_sequences(client, caller, [*sorted(VISIBLE_RUNS[caller]), "v-det-1"])
    assert "v-det-1" in VISIBLE_RUNS[CAROL]
