"""Who may write automation rules and inbox read marks (docs/permissions.md, rows W11 and W12),
over real gRPC and Kafka: a rule belongs to the team whose key created it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from tests.security.ingest_stack import TwoTeams, event_for, start_two_teams, stop_two_teams

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

RULE_EVENTS = ["rule_created", "rule_changed", "rule_paused", "rule_resumed", "rule_deleted"]


@pytest.fixture(scope="module")
async def teams(kafka_bootstrap: str) -> AsyncIterator[TwoTeams]:
    stack = await start_two_teams(kafka_bootstrap)
    try:
        yield stack
    finally:
        await stop_two_teams(stack)


async def test_rule_events_need_a_key_of_the_rules_team(teams: TwoTeams) -> None:
    for event_type in RULE_EVENTS:
        for role in ("writer", "admin"):
            own = event_for(event_type, "alpha", "nan-loss")
            assert (await teams.send(teams.key("alpha", role), own)).accepted_events == 1
        foreign = event_for(event_type, "beta", "nan-loss")  # beta's rule of the same name
        error = await teams.refused(teams.key("alpha"), foreign)
        assert error.code is grpc.StatusCode.PERMISSION_DENIED, event_type
        assert error.violations[0][:2] == ("events[0].envelope.team", "team_scope")


async def test_inbox_read_marks_need_a_key_of_the_team(teams: TwoTeams) -> None:
    own = event_for("inbox_items_read", "alpha", "alpha")
    assert (await teams.send(teams.key("alpha"), own)).accepted_events == 1
    error = await teams.refused(teams.key("alpha"), event_for("inbox_items_read", "beta", "beta"))
    assert error.code is grpc.StatusCode.PERMISSION_DENIED
    assert error.violations[0][:2] == ("events[0].envelope.team", "team_scope")
