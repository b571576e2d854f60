"""Who may write automation rules and inbox read marks (docs/permissions.md, rows W11 and W12),
over real gRPC and Kafka: a rule belongs to the team whose key created it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

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


def _read_marks(team: str, user_id: str, on_behalf_of: str = "") -> Any:
    event = event_for("inbox_items_read", team, team)
    event.inbox_items_read.user_id = user_id
    event.envelope.actor.on_behalf_of = on_behalf_of
    return event


async def test_inbox_read_marks_need_a_key_of_the_team(teams: TwoTeams) -> None:
    own = _read_marks("alpha", "alice", on_behalf_of="alice")  # the portal for alice
    assert (await teams.send(teams.key("alpha", "admin"), own)).accepted_events == 1
    foreign = _read_marks("beta", "alice", on_behalf_of="alice")
    error = await teams.refused(teams.key("alpha", "admin"), foreign)
    assert error.code is grpc.StatusCode.PERMISSION_DENIED
    assert error.violations[0][:2] == ("events[0].envelope.team", "team_scope")


async def test_inbox_read_marks_are_only_the_authenticated_persons(teams: TwoTeams) -> None:
    """A client cannot choose whose inbox it marks read (docs/permissions.md, W12)."""
    cases = [
        (teams.key("alpha"), _read_marks("alpha", "alice")),  # a service key acts for nobody
        (teams.key("alpha", "admin"), _read_marks("alpha", "bob", on_behalf_of="alice")),
    ]
    for key, event in cases:
        error = await teams.refused(key, event)
        assert error.code is grpc.StatusCode.PERMISSION_DENIED
        assert error.violations[0][:2] == ("events[0].inbox_items_read.user_id", "inbox_owner")
