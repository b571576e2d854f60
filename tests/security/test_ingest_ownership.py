"""Aggregate ownership at ingest (docs/permissions.md, rows W1-W10, W16), over real gRPC and Kafka.

Team alpha attacks team beta's run with every event type there is: each attempt is refused
with PERMISSION_DENIED naming ``events[i].envelope.aggregate_id`` before anything reaches Kafka;
beta itself may go on writing. The ownership index survives a restart, and two ingest replicas
racing to create one run for two teams accept exactly one of them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cairn_contract.ids import new_uuid7
from cairn_contract.v1 import envelope_pb2, events_pb2
from tests.event_samples import all_event_types, sample_event
from tests.integration.test_ingest_server import read_topic
from tests.security.ingest_stack import (
    TwoTeams,
    event_for,
    new_run,
    start_server,
    start_two_teams,
    stop_two_teams,
)

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

DENIED = grpc.StatusCode.PERMISSION_DENIED
RUN_EVENTS = [t for t in all_event_types() if sample_event(t).envelope.aggregate_kind == 1]
MODEL_EVENTS = [t for t in all_event_types() if sample_event(t).envelope.aggregate_kind == 3]


@pytest.fixture(scope="module")
async def teams(kafka_bootstrap: str) -> AsyncIterator[TwoTeams]:
    stack = await start_two_teams(kafka_bootstrap)
    try:
        yield stack
    finally:
        await stop_two_teams(stack)


async def beta_run(teams: TwoTeams) -> str:
    created = new_run("beta")
    await teams.send(teams.key("beta"), created)
    return created.envelope.aggregate_id


def assert_foreign(error: object, index: int = 0) -> None:
    assert error.code is DENIED, error  # type: ignore[attr-defined]
    field = f"events[{index}].envelope.aggregate_id"
    assert [(v[0], v[1]) for v in error.violations] == [(field, "aggregate_owner")]  # type: ignore[attr-defined]
    assert field in error.message  # type: ignore[attr-defined]


async def test_run_created_new_id(teams: TwoTeams) -> None:
    created = new_run("alpha")
    ack = await teams.send(teams.key("alpha"), created)
    assert ack.accepted_events == 1
    again = await teams.send(teams.key("alpha"), created)  # a client retry: same event id
    assert again.accepted_events == 1
    error = await teams.refused(teams.key("alpha"), new_run("beta"))
    assert (error.code, error.violations[0][:2]) == (
        DENIED,
        ("events[0].envelope.team", "team_scope"),
    )


async def test_run_created_existing_id(teams: TwoTeams) -> None:
    run = await beta_run(teams)
    assert_foreign(await teams.refused(teams.key("alpha"), new_run("alpha", run)))
    assert_foreign(await teams.refused(teams.key("alpha", "admin"), new_run("alpha", run)))
    same_team = await teams.refused(teams.key("beta"), new_run("beta", run))
    assert same_team.code is grpc.StatusCode.ALREADY_EXISTS
    assert same_team.violations[0][:2] == ("events[0].envelope.aggregate_id", "aggregate_exists")


@pytest.mark.parametrize("event_type", RUN_EVENTS)
async def test_run_events_of_foreign_run(teams: TwoTeams, event_type: str) -> None:
    run = await beta_run(teams)
    assert_foreign(await teams.refused(teams.key("alpha"), event_for(event_type, "alpha", run)))
    if event_type not in ("run_created", "run_forked"):  # a fork is a new run: see below
        ack = await teams.send(teams.key("beta"), event_for(event_type, "beta", run))
        assert ack.accepted_events == 1


def _fork(team: str, parent: str) -> list[events_pb2.Event]:
    """A new run of ``team`` and its ``run_forked`` naming ``parent``."""
    created = new_run(team)
    forked = event_for("run_forked", team, created.envelope.aggregate_id)
    forked.run_forked.parent_run_id = parent
    return [created, forked]


async def test_fork_needs_a_parent_of_the_writers_team(teams: TwoTeams) -> None:
    own = new_run("alpha")
    await teams.send(teams.key("alpha"), own)
    ack = await teams.send(teams.key("alpha"), *_fork("alpha", own.envelope.aggregate_id))
    assert ack.accepted_events == 2

    field = "events[1].run_forked.parent_run_id"
    for parent in (await beta_run(teams), f"run-{uuid.uuid4().hex[:12]}"):  # foreign, unknown
        error = await teams.refused(teams.key("alpha"), *_fork("alpha", parent))
        assert error.code is DENIED, error
        assert [(v[0], v[1]) for v in error.violations] == [(field, "fork_source")]
        assert parent in error.message
    # Nothing of a refused batch was recorded; beta may fork its own run.
    beta_parent = await beta_run(teams)
    ack = await teams.send(teams.key("beta"), *_fork("beta", beta_parent))
    assert ack.accepted_events == 2


async def test_foreign_event_hidden_in_a_batch_refuses_the_whole_batch(teams: TwoTeams) -> None:
    run = await beta_run(teams)
    own = new_run("alpha")
    error = await teams.refused(
        teams.key("alpha"),
        own,
        event_for("tags_set", "alpha", own.envelope.aggregate_id),
        event_for("run_renamed", "alpha", run),
    )
    assert_foreign(error, index=2)
    # Nothing of the refused batch was recorded: alpha's new run id is still free for beta.
    ack = await teams.send(teams.key("beta"), new_run("beta", own.envelope.aggregate_id))
    assert ack.accepted_events == 1


@pytest.mark.parametrize("event_type", MODEL_EVENTS)
async def test_model_events_of_foreign_model(teams: TwoTeams, event_type: str) -> None:
    model = f"model-{uuid.uuid4().hex[:8]}"
    await teams.send(teams.key("beta"), event_for("model_registered", "beta", model))
    assert_foreign(await teams.refused(teams.key("alpha"), event_for(event_type, "alpha", model)))


@pytest.mark.parametrize(
    "event_type", ["comment_added", "comment_edited", "comment_deleted", "decision_recorded"]
)
async def test_collaboration_on_foreign_run(teams: TwoTeams, event_type: str) -> None:
    run = await beta_run(teams)
    event = event_for(event_type, "alpha", run)
    event.envelope.aggregate_kind = envelope_pb2.AGGREGATE_KIND_RUN
    assert_foreign(await teams.refused(teams.key("alpha"), event))


@pytest.mark.parametrize("event_type", ["resource_shared", "resource_unshared"])
async def test_share_of_foreign_run(teams: TwoTeams, event_type: str) -> None:
    run = await beta_run(teams)
    event = event_for(event_type, "alpha", run)
    event.envelope.aggregate_kind = envelope_pb2.AGGREGATE_KIND_RUN
    assert_foreign(await teams.refused(teams.key("alpha", "admin"), event))
    own = event_for(event_type, "beta", run)
    own.envelope.aggregate_kind = envelope_pb2.AGGREGATE_KIND_RUN
    assert (await teams.send(teams.key("beta"), own)).accepted_events == 1


async def test_saved_view_events_of_foreign_view(teams: TwoTeams) -> None:
    """W23: the first event for a saved view claims it for its team; another team may not save
    over it, delete it or share it (even with an admin key), and a view id that is not a UUIDv7
    is refused before anything is claimed."""
    view_id = new_uuid7()
    assert (
        await teams.send(teams.key("beta"), event_for("view_saved", "beta", view_id))
    ).accepted_events == 1
    for event_type in ("view_saved", "view_deleted", "resource_shared"):
        foreign = event_for(event_type, "alpha", view_id)
        assert_foreign(await teams.refused(teams.key("alpha", "admin"), foreign))
    own = event_for("view_deleted", "beta", view_id)
    assert (await teams.send(teams.key("beta"), own)).accepted_events == 1
    guessable = await teams.refused(teams.key("alpha"), event_for("view_saved", "alpha", "default"))
    assert guessable.code is grpc.StatusCode.INVALID_ARGUMENT
    assert guessable.violations[0][:2] == ("events[0].envelope.aggregate_id", "uuid7")


async def test_transfer_of_foreign_run(teams: TwoTeams) -> None:
    run = await beta_run(teams)
    event = event_for("ownership_transferred", "alpha", run)
    event.envelope.aggregate_kind = envelope_pb2.AGGREGATE_KIND_RUN
    assert_foreign(await teams.refused(teams.key("alpha"), event))


async def test_project_events_are_team_scoped(teams: TwoTeams) -> None:
    notes = sample_event("project_notes_set", team="alpha")
    assert (await teams.send(teams.key("alpha"), notes)).accepted_events == 1
    error = await teams.refused(teams.key("alpha"), sample_event("project_notes_set", team="beta"))
    assert (error.code, error.violations[0][1]) == (DENIED, "team_scope")


async def test_on_behalf_of_needs_service_admin(teams: TwoTeams) -> None:
    event = new_run("alpha")
    event.envelope.actor.on_behalf_of = "bee"
    error = await teams.refused(teams.key("alpha"), event)  # a writer key
    assert (error.code, error.violations[0][1]) == (DENIED, "on_behalf_of")
    # The portal's kind of key (an admin service key) may; it still cannot reach beta's runs.
    assert (await teams.send(teams.key("alpha", "admin"), event)).accepted_events == 1
    foreign = event_for("run_renamed", "alpha", await beta_run(teams))
    foreign.envelope.actor.on_behalf_of = "bee"
    assert_foreign(await teams.refused(teams.key("alpha", "admin"), foreign))


async def test_team_scope(teams: TwoTeams) -> None:
    error = await teams.refused(teams.key("alpha"), event_for("tags_set", "beta", "run-x"))
    assert (error.code, error.violations[0]) == (
        DENIED,
        ("events[0].envelope.team", "team_scope", error.violations[0][2]),
    )


async def test_refused_events_never_reach_kafka(teams: TwoTeams) -> None:
    run = await beta_run(teams)
    marker = f"attack-{uuid.uuid4().hex[:8]}"
    rename = event_for("run_renamed", "alpha", run)
    rename.run_renamed.name = marker
    await teams.refused(teams.key("alpha"), rename)
    records = await read_topic(teams.bootstrap, teams.events_topic)
    assert not [r for r in records if marker.encode() in (r.value or b"")]


async def test_ownership_survives_a_restart(teams: TwoTeams) -> None:
    run = await beta_run(teams)
    restarted = await start_server(teams)
    channel = grpc.aio.insecure_channel(restarted.address)
    try:
        error = await teams.refused(
            teams.key("alpha"), event_for("run_renamed", "alpha", run), channel=channel
        )
        assert_foreign(error)
    finally:
        await channel.close()
        await restarted.stop(grace=1)


async def test_two_replicas_racing_to_create_one_run_accept_one(teams: TwoTeams) -> None:
    other = await start_server(teams)
    channel = grpc.aio.insecure_channel(other.address)
    try:
        for _ in range(3):
            run = f"run-{uuid.uuid4().hex[:12]}"
            results = await asyncio.gather(
                teams.send(teams.key("alpha"), new_run("alpha", run)),
                teams.send(teams.key("beta"), new_run("beta", run), channel=channel),
                return_exceptions=True,
            )
            accepted = [r for r in results if not isinstance(r, BaseException)]
            refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
            assert (len(accepted), len(refused)) == (1, 1), results
            assert refused[0].code() is DENIED
    finally:
        await channel.close()
        await other.stop(grace=1)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    types=st.lists(st.sampled_from(RUN_EVENTS), min_size=1, max_size=6),
    position=st.integers(min_value=0, max_value=5),
    role=st.sampled_from(["writer", "admin"]),
)
async def test_generated_batches_with_a_foreign_aggregate_are_never_accepted(
    teams: TwoTeams, types: list[str], position: int, role: str
) -> None:
    run = await beta_run(teams)
    own = new_run("alpha")
    # The writer's own events are valid (a fork of its own run is its own rule, tested above), so
    # the one thing wrong with the batch is the foreign aggregate.
    events = [own] + [
        event_for(t, "alpha", own.envelope.aggregate_id)
        for t in types
        if t not in ("run_created", "run_forked")
    ]
    index = min(position, len(events))
    foreign = event_for(types[0], "alpha", run)
    if types[0] == "run_forked":
        parent = new_run("alpha")
        await teams.send(teams.key("alpha"), parent)
        foreign.run_forked.parent_run_id = parent.envelope.aggregate_id
    events.insert(index, foreign)
    assert_foreign(await teams.refused(teams.key("alpha", role), *events), index=index)
