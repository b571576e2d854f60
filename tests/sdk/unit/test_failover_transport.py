"""Several ingest replicas in ``ingest_url``: the SDK spreads over them and fails over to the next
one when a stream fails (real gRPC against an in-process fake Publish servicer, no Kafka). The
same against real ingest replicas being restarted is in tests/cluster/test_faults.py."""

from __future__ import annotations

from pathlib import Path

import pytest

import cairn
from cairn._transport import GrpcTransport, encode_batch
from cairn.config import Mode, Settings
from cairn_contract.errors import ConfigError
from localstack.processes import free_port
from tests.sdk.helpers import offline_settings, points, wait_for
from tests.sdk.unit.conftest import Server
from tests.sdk.unit.test_grpc_transport import sample_records


def test_a_list_of_replicas_is_one_target_and_mixed_schemes_are_refused() -> None:
    settings = Settings(ingest_url="10.0.0.1:50051, grpc://10.0.0.2:50052")
    assert settings.target() == ("10.0.0.1:50051,10.0.0.2:50052", False)
    assert settings.addresses() == (("10.0.0.1:50051", "10.0.0.2:50052"), False)
    assert Settings(ingest_url="grpcs://a:1,grpcs://b:2").target() == ("a:1,b:2", True)
    with pytest.raises(ConfigError) as mixed:
        Settings(ingest_url="grpcs://a:1,b:2").target()
    assert mixed.value.field == "ingest_url"
    with pytest.raises(ConfigError, match="comma-separated"):
        Settings(ingest_url="a:1,,b:2").target()


def test_a_failed_stream_is_retried_on_the_next_replica(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = f"127.0.0.1:{free_port()}"
    monkeypatch.setattr("cairn._transport.random.randrange", lambda n: 0)  # start at the dead one
    transport = GrpcTransport(f"{dead},{server.address}", tls=False, api_key="k", sdk_version="0")
    try:
        first = transport.open(lambda: None)
        first.send(encode_batch(1, sample_records(1, 2)))
        failure = wait_for(lambda: first.failure, what="the dead replica's stream to fail")
        assert failure.code == "UNAVAILABLE"
        first.close()
        second = transport.open(lambda: None)
        assert transport.address == server.address
        second.send(encode_batch(1, sample_records(1, 2)))
        acks = wait_for(second.poll, what="an ack from the live replica")
        assert [(a.batch_id, a.accepted_events) for a in acks] == [(1, 2)]
        second.close()
    finally:
        transport.close()


def test_transports_spread_over_the_replicas() -> None:
    addresses = ",".join(f"127.0.0.1:{50000 + i}" for i in range(3))
    starts = {
        GrpcTransport(addresses, tls=False, api_key="k", sdk_version="0").address for _ in range(60)
    }
    assert len(starts) == 3


def test_an_online_run_with_one_dead_replica_delivers_everything(
    server: Server, tmp_path: Path
) -> None:
    dead = f"127.0.0.1:{free_port()}"
    settings = offline_settings(
        tmp_path, mode=Mode.ONLINE, ingest_url=f"{dead},{server.address}", api_key="cairn_k_s"
    )
    with cairn.init(name="failover", settings=settings) as run:
        for step in range(500):
            run.log({"loss": 1.0 / (step + 1)}, step=step)
    events = [e for b in server.fake.batches for e in b.events]
    assert points(events)["loss"] == [(s, 1.0 / (s + 1)) for s in range(500)]
