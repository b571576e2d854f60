"""An admin manages keys and members of their own team only (docs/permissions.md, I1-I5), over
real gRPC and Kafka: the cross-team identity attacks are refused, the own-team ones work."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from cairn_contract.v1 import envelope_pb2
from domain.identity import generate_api_key
from ingest.identity_log import load_identity
from ingest.keys import append_identity_events, issue_key_directly, operator_actor
from tests.event_samples import sample_event
from tests.security.ingest_stack import TwoTeams, start_two_teams, stop_two_teams

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

DENIED = grpc.StatusCode.PERMISSION_DENIED


@pytest.fixture(scope="module")
async def teams(kafka_bootstrap: str) -> AsyncIterator[TwoTeams]:
    stack = await start_two_teams(kafka_bootstrap)
    try:
        yield stack
    finally:
        await stop_two_teams(stack)


def key_for(team: str, user: str = "", role: int = 1) -> tuple[object, str]:
    event = sample_event("api_key_issued", team=team)
    new = generate_api_key()
    issued = event.api_key_issued
    issued.key_id, issued.key_sha256, issued.role = new.key_id, new.sha256, role
    issued.principal_kind = (
        envelope_pb2.ACTOR_KIND_USER if user else envelope_pb2.ACTOR_KIND_SERVICE
    )
    issued.user_id = user
    issued.name = "sec-test"
    return event, new.key_id


def revoke(team: str, key_id: str) -> object:
    event = sample_event("api_key_revoked", team=team)
    event.api_key_revoked.key_id = key_id
    return event


async def test_identity_events_need_own_admin_key(teams: TwoTeams) -> None:
    for event_type in ("project_created", "member_joined", "member_left", "team_created"):
        own = sample_event(event_type, team="alpha")
        assert (await teams.send(teams.key("alpha", "admin"), own)).accepted_events == 1
        as_writer = await teams.refused(teams.key("alpha"), sample_event(event_type, team="alpha"))
        assert (as_writer.code, as_writer.violations[0][1]) == (DENIED, "admin_required")
        foreign = await teams.refused(
            teams.key("alpha", "admin"), sample_event(event_type, team="beta")
        )
        assert (foreign.code, foreign.violations[0][1]) == (DENIED, "team_scope")


async def test_key_for_other_teams_user(teams: TwoTeams) -> None:
    event, _ = key_for("alpha", user="bee")  # bee is a member of beta, not of alpha
    error = await teams.refused(teams.key("alpha", "admin"), event)
    assert error.code is DENIED
    assert error.violations[0][:2] == ("events[0].api_key_issued.user_id", "member_of_team")
    own, _ = key_for("beta", user="bee")
    assert (await teams.send(teams.key("beta", "admin"), own)).accepted_events == 1
    # Joining bee to alpha in the same batch makes bee alpha's member first: allowed.
    joined = sample_event("member_joined", team="alpha")
    joined.member_joined.user_id = "bee-two"
    paired, _ = key_for("alpha", user="bee-two")
    assert (await teams.send(teams.key("alpha", "admin"), joined, paired)).accepted_events == 2


async def test_service_key_issued(teams: TwoTeams) -> None:
    event, _ = key_for("alpha")
    assert (await teams.send(teams.key("alpha", "admin"), event)).accepted_events == 1
    again, _ = key_for("alpha")
    error = await teams.refused(teams.key("alpha"), again)
    assert (error.code, error.violations[0][1]) == (DENIED, "admin_required")


async def test_revoke_other_teams_key(teams: TwoTeams) -> None:
    beta_key_id = teams.key("beta").split("_")[1]
    error = await teams.refused(teams.key("alpha", "admin"), revoke("alpha", beta_key_id))
    assert error.code is DENIED
    assert error.violations[0][:2] == ("events[0].api_key_revoked.key_id", "key_of_team")
    unknown = await teams.refused(teams.key("alpha", "admin"), revoke("alpha", "0123456789ab"))
    assert unknown.code is grpc.StatusCode.NOT_FOUND
    assert unknown.violations[0][:2] == ("events[0].api_key_revoked.key_id", "key_exists")
    # beta's key still works; alpha revoking its own freshly issued key works.
    assert await teams.send(teams.key("beta"), sample_event("run_created", team="beta"))
    event, key_id = key_for("alpha")
    await teams.send(teams.key("alpha", "admin"), event)
    ack = await teams.send(teams.key("alpha", "admin"), revoke("alpha", key_id))
    assert ack.accepted_events == 1


async def test_operator_cli_writes_directly(teams: TwoTeams) -> None:
    key = await issue_key_directly(
        teams.bootstrap, team="gamma", role="writer", topic=teams.identity_topic
    )
    registry = await load_identity(teams.bootstrap, teams.identity_topic)
    assert {r.team for r in registry.api_keys()} >= {"alpha", "beta", "gamma"}
    assert key.split("_")[1] in {r.key_id for r in registry.api_keys("gamma")}


async def test_identity_writes_count_the_moment_kafka_has_them(teams: TwoTeams) -> None:
    """Read-your-writes (I2, I4): a key or member written to the identity topic a moment ago (by
    the operator, or through another ingest replica) is not yet applied by this replica's
    follower; the refusal is decided again once it has read the topic up to now."""
    admin = teams.key("alpha", "admin")
    for round_ in range(3):
        key = await issue_key_directly(
            teams.bootstrap, team="alpha", role="writer", topic=teams.identity_topic
        )
        assert (await teams.send(admin, revoke("alpha", key.split("_")[1]))).accepted_events == 1
        joined = sample_event("member_joined", team="alpha")
        joined.member_joined.user_id = f"newcomer-{round_}"
        joined.envelope.actor.CopyFrom(operator_actor())
        await append_identity_events(teams.bootstrap, teams.identity_topic, [joined])
        event, _ = key_for("alpha", user=f"newcomer-{round_}")
        assert (await teams.send(admin, event)).accepted_events == 1
    # A key that was never written stays NOT_FOUND (after catching up), and quickly.
    unknown = await teams.refused(admin, revoke("alpha", "fedcba987654"))
    assert (unknown.code, unknown.violations[0][1]) == (grpc.StatusCode.NOT_FOUND, "key_exists")
