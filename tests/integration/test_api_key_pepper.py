"""CAIRN_API_KEY_PEPPER end to end: `cairn key create` hashes the new key with the pepper it is
given, ingest and the query service (one process, configured through IngestSettings.from_env)
verify presented keys with the same pepper, and a key hashed without it is unknown to them.
Real Kafka, real gRPC, the real ClickHouse endpoint behind the query service."""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
import sys
import uuid
from pathlib import Path

import grpc
import pytest

from cairn.v1 import query_pb2, query_pb2_grpc
from ingest.identity_log import load_identity
from ingest.keys import issue_key_directly
from ingest.server import IngestServer
from ingest.settings import IngestSettings
from query.migrations import apply_migrations, drop_database
from servicekit import topics
from tests.event_samples import batch_of, sample_event
from tests.ingest_client import append, key_metadata, rich_error
from tests.integration.conftest_clickhouse import ClickHouseEndpoint
from tests.integration.processors_harness import store

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

REPO = Path(__file__).resolve().parents[2]


def create_key_with_cli(bootstrap: str, topic: str, pepper: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    env["CAIRN_API_KEY_PEPPER"] = pepper
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cairn.cli",
            "key",
            "create",
            "--team",
            "vision",
            "--role",
            "writer",
            "--bootstrap",
            bootstrap,
            "--topic",
            topic,
        ],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


async def test_keys_are_hashed_and_verified_with_the_installations_pepper(
    kafka_bootstrap: str, clickhouse_endpoint: ClickHouseEndpoint
) -> None:
    suffix = uuid.uuid4().hex[:10]
    events_topic, identity_topic = f"test.events.{suffix}", f"test.identity.{suffix}"
    await topics.ensure_topics(
        kafka_bootstrap,
        [topics.EVENTS.renamed(events_topic), topics.IDENTITY.renamed(identity_topic)],
    )
    pepper = f"pepper-{uuid.uuid4().hex}"
    peppered = create_key_with_cli(kafka_bootstrap, identity_topic, pepper)
    unpeppered = await issue_key_directly(
        kafka_bootstrap, team="vision", role="writer", topic=identity_topic
    )

    # What the identity topic (and so the ClickHouse projection) holds is the keyed hash: the
    # plain SHA-256 of the key matches nothing there.
    stored = (await load_identity(kafka_bootstrap, identity_topic)).find_key(peppered.split("_")[1])
    assert stored is not None
    assert stored.sha256 == hmac.new(pepper.encode(), peppered.encode(), "sha256").hexdigest()
    assert stored.sha256 != hashlib.sha256(peppered.encode()).hexdigest()

    database = f"pep_{suffix}"
    apply_migrations(store(f"{clickhouse_endpoint.url}/default"), database)
    settings = IngestSettings.from_env(
        {
            "CAIRN_INGEST_LISTEN": "127.0.0.1:0",
            "CAIRN_INGEST_METRICS_PORT": "-1",
            "CAIRN_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "CAIRN_EVENTS_TOPIC": events_topic,
            "CAIRN_IDENTITY_TOPIC": identity_topic,
            "CAIRN_CLICKHOUSE_URL": f"{clickhouse_endpoint.url}/{database}",
            "CAIRN_API_KEY_PEPPER": pepper,
        }
    )
    assert pepper not in repr(settings)  # a secret: never in a log line of the settings
    server = IngestServer(settings)
    await server.start()
    channel = grpc.aio.insecure_channel(server.address)
    try:
        event = sample_event("run_created", team="vision")
        ack = await append(channel, batch_of(event), peppered)
        assert ack.accepted_events == 1
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await append(channel, batch_of(sample_event("run_created", team="vision")), unpeppered)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert rich_error(refused.value).message == "API key not recognised"

        query = query_pb2_grpc.QueryStub(channel)
        missing = query_pb2.GetRunRequest(run_id=str(uuid.uuid4()))
        with pytest.raises(grpc.aio.AioRpcError) as authenticated:
            await query.GetRun(missing, metadata=key_metadata(peppered), timeout=10)
        assert authenticated.value.code() == grpc.StatusCode.NOT_FOUND  # past authentication
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await query.GetRun(missing, metadata=key_metadata(unpeppered), timeout=10)
        assert unknown.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        await channel.close()
        await server.stop(grace=2)
        drop_database(store(f"{clickhouse_endpoint.url}/default"), database)
