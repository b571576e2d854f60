"""Two teams on one real ingest server (real gRPC port, real Kafka), for the security tests.

Team ``alpha`` and team ``beta`` each get a writer key and an admin key, issued the way an
operator does (straight to the identity topic) before the server starts; ``bee`` is a member of
beta. Topics are randomly named, so modules never see each other's aggregates.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import grpc

from cairn_contract.ids import new_uuid7
from cairn_contract.v1 import events_pb2, ingest_pb2
from ingest.keys import append_identity_events, issue_key_directly, operator_actor
from ingest.server import IngestServer
from ingest.settings import IngestSettings
from servicekit import topics
from servicekit.secret_box import new_key
from tests.event_samples import batch_of, sample_event
from tests.ingest_client import RichError, append, rich_error

SECRET_KEY = new_key()  # seals webhook secrets of rule events (ingest refuses them without one)


@dataclass
class TwoTeams:
    bootstrap: str
    events_topic: str
    identity_topic: str
    keys: dict[tuple[str, str], str] = field(default_factory=dict)  # (team, role) -> key
    server: IngestServer | None = None
    channel: grpc.aio.Channel | None = None

    def settings(self) -> IngestSettings:
        return IngestSettings(
            listen="127.0.0.1:0",
            kafka_bootstrap=self.bootstrap,
            events_topic=self.events_topic,
            identity_topic=self.identity_topic,
            metrics_port=None,
            automations_secret_key=SECRET_KEY,
        )

    def key(self, team: str, role: str = "writer") -> str:
        return self.keys[(team, role)]

    async def send(
        self, key: str, *events: events_pb2.Event, channel: grpc.aio.Channel | None = None
    ) -> ingest_pb2.Ack:
        target = channel or self.channel
        assert target is not None
        return await append(target, batch_of(*events), key)

    async def refused(
        self, key: str, *events: events_pb2.Event, channel: grpc.aio.Channel | None = None
    ) -> RichError:
        try:
            ack = await self.send(key, *events, channel=channel)
        except grpc.aio.AioRpcError as error:
            return rich_error(error)
        raise AssertionError(f"batch was accepted: {ack}")


async def start_two_teams(bootstrap: str) -> TwoTeams:
    suffix = uuid.uuid4().hex[:10]
    stack = TwoTeams(bootstrap, f"sec.events.{suffix}", f"sec.identity.{suffix}")
    await topics.ensure_topics(
        bootstrap,
        [topics.EVENTS.renamed(stack.events_topic), topics.IDENTITY.renamed(stack.identity_topic)],
    )
    for team in ("alpha", "beta"):
        for role in ("writer", "admin"):
            stack.keys[(team, role)] = await issue_key_directly(
                bootstrap, team=team, role=role, topic=stack.identity_topic
            )
    joined = sample_event("member_joined", team="beta")
    joined.member_joined.user_id = "bee"
    joined.envelope.actor.CopyFrom(operator_actor())
    await append_identity_events(bootstrap, stack.identity_topic, [joined])
    stack.server = await start_server(stack)
    stack.channel = grpc.aio.insecure_channel(stack.server.address)
    return stack


async def start_server(stack: TwoTeams) -> IngestServer:
    server = IngestServer(stack.settings())
    await server.start()
    return server


async def stop_two_teams(stack: TwoTeams) -> None:
    if stack.channel is not None:
        await stack.channel.close()
    if stack.server is not None:
        await stack.server.stop(grace=1)


def new_run(team: str, run_id: str | None = None) -> events_pb2.Event:
    event = sample_event("run_created", team=team)
    event.envelope.aggregate_id = run_id or f"run-{uuid.uuid4().hex[:12]}"
    return event


def event_for(event_type: str, team: str, aggregate_id: str) -> events_pb2.Event:
    """A valid ``event_type`` event of ``team`` aimed at ``aggregate_id`` (fresh event id)."""
    event = sample_event(event_type, team=team)
    event.envelope.aggregate_id = aggregate_id
    event.envelope.event_id = new_uuid7()
    if event_type == "lineage_edge_recorded":
        event.lineage_edge_recorded.source.id = aggregate_id
    return event
