"""The inbox's failed runs read from ``run_fields`` (not the ``runs`` view, which pivots every
run's params, tags and metrics and took seconds at 10,000 runs) name exactly the runs the view
says the person owns (after handovers), that failed, and that they may see."""

from __future__ import annotations

import pytest

from query import automations
from query.access import Caller
from tests.query.integration.callers import ADMIN, ALICE, CAROL, DAVE, STRANGER
from tests.query.integration.conftest import World

pytestmark = pytest.mark.integration

BOB = Caller("bob", frozenset({"risk"}))


@pytest.mark.parametrize(
    "caller", [ALICE, BOB, CAROL, DAVE, ADMIN, STRANGER], ids=lambda c: c.user_id
)
def test_failed_run_items_are_the_runs_view_owners_failed_runs(
    world: World, caller: Caller
) -> None:
    client = world.client()
    visible = {r["run_id"] for r in client.query(
        "SELECT run_id, team FROM runs WHERE owner = {u:String} AND status = 'failed'",
        parameters={"u": caller.user_id},
    ).named_results() if caller.admin or r["team"] in caller.teams}  # fmt: skip
    items = automations.inbox(client, caller)
    failed = {i.target_id for i in items if i.kind == "failed_run"}
    assert failed == visible
    assert all(
        i.text.startswith("your run ") and " failed" in i.text
        for i in items
        if i.kind == "failed_run"
    )
    assert automations.unread_count(client, caller) == sum(not i.read for i in items)


def test_bob_is_told_of_his_failed_run(world: World) -> None:
    items = automations.inbox(world.client(), BOB)
    assert [i.target_id for i in items if i.kind == "failed_run"] == ["r-churn-4"]
