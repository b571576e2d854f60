"""The SDK against the real ingest server and the real broker: a run logged with the documented
API arrives complete, in order and attributed to the key, on the events topic."""

from __future__ import annotations

from pathlib import Path

import pytest

import cairn
from cairn.v1 import common_pb2, lineage_pb2, provenance_pb2, runs_pb2
from tests.sdk.helpers import payloads
from tests.sdk.integration.conftest import PROJECT, TEAM, IngestProcess, Stack, unique_points

pytestmark = pytest.mark.integration


def test_a_run_logged_with_the_api_arrives_complete_and_in_order(
    sdk_stack: Stack, ingest: IngestProcess, tmp_path: Path
) -> None:
    (tmp_path / "train.parquet").write_bytes(b"PAR1 rows")
    (tmp_path / "model.pt").write_bytes(b"weights")
    settings = sdk_stack.settings(
        tmp_path / "cairn", ingest.address, artifact_store=str(tmp_path / "store")
    )
    run = cairn.init(
        name="baseline",
        config={"lr": 3e-4, "model": {"layers": 4}},
        tags={"team": "risk"},
        settings=settings,
    )
    for step in range(3000):
        run.log({"loss": 1.0 / (step + 1), "acc": step / 3000}, step=step)
    run.log_series("lr", list(range(3000)), [3e-4] * 3000)
    run.log_params({"batch_size": 64})
    run.set_tags({"stage": "tuning"})
    dataset = run.use_dataset(tmp_path / "train.parquet", name="train")
    artifact = run.log_artifact(tmp_path / "model.pt", kind="model")
    comment_id = run.comment("Switched to cosine schedule after the plateau at step 3k")
    spool = run.spool_dir
    run.finish()
    assert spool is not None
    assert not spool.exists(), "finish() waited for every ack and removed the spool"

    events = sdk_stack.events(run.id)
    assert len({e.envelope.event_id for e in events}) == len(events), "nothing was sent twice"
    assert [e.envelope.sequence for e in events] == list(range(1, len(events) + 1))
    key_id = sdk_stack.api_key.split("_")[1]
    for event in events:
        env = event.envelope
        assert (env.team, env.project, env.actor.key_id, env.actor.id) == (
            TEAM,
            PROJECT,
            key_id,
            "sdk-tests",
        )
        assert env.received_at_ns >= env.occurred_at_ns - 60_000_000_000
    assert unique_points(events) == {
        "loss": list(range(3000)),
        "acc": list(range(3000)),
        "lr": list(range(3000)),
    }

    assert payloads(events, "run_created")[0].name == "baseline"
    params = {p.key: p.value for e in payloads(events, "params_set") for p in e.params}
    assert (
        params["lr"].double_value,
        params["model.layers"].int_value,
        params["batch_size"].int_value,
    ) == (
        3e-4,
        4,
        64,
    )
    tags = {t.key: t.value for e in payloads(events, "tags_set") for t in e.tags}
    assert tags == {"team": "risk", "stage": "tuning"}
    recorded = payloads(events, "dataset_recorded")[0]
    assert (recorded.digest, recorded.role) == (dataset.digest, common_pb2.DATA_ROLE_INPUT)
    logged = payloads(events, "artifact_logged")[0]
    assert (logged.sha256, logged.kind, logged.uri) == (
        artifact.sha256,
        provenance_pb2.ARTIFACT_KIND_MODEL,
        artifact.uri,
    )
    relations = [(e.relation, e.target.id) for e in payloads(events, "lineage_edge_recorded")]
    assert relations == [
        (lineage_pb2.LINEAGE_RELATION_USED, dataset.digest),
        (lineage_pb2.LINEAGE_RELATION_PRODUCED, artifact.sha256),
    ]
    assert payloads(events, "comment_added")[0].comment_id == comment_id
    assert events[-1].run_status_changed.status == runs_pb2.RUN_STATUS_FINISHED


def test_nested_and_resumed_runs_keep_their_links_and_order(
    sdk_stack: Stack, ingest: IngestProcess, tmp_path: Path
) -> None:
    settings = sdk_stack.settings(tmp_path / "cairn", ingest.address)
    with (
        cairn.init(name="sweep", settings=settings) as parent,
        cairn.init(name="trial-1", parent=parent, settings=settings) as child,
    ):
        child.log({"loss": 0.5})
    with cairn.init(resume=child.id, settings=settings) as resumed:
        resumed.log({"loss": 0.25})

    events = sdk_stack.events(child.id)
    assert payloads(events, "run_created")[0].parent_run_id == parent.id
    kinds = [e.WhichOneof("payload") for e in events]
    assert kinds == [
        "run_created",
        "metrics",
        "run_status_changed",
        "run_resumed",
        "metrics",
        "run_status_changed",
    ]
    sequences = [e.envelope.sequence for e in events]
    assert sequences == sorted(set(sequences))
    assert unique_points(events) == {"loss": [0, 1]}


def test_a_wrong_api_key_keeps_everything_until_sync_with_the_right_one(
    sdk_stack: Stack, ingest: IngestProcess, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from cairn.cli import main

    directory = tmp_path / "cairn"
    settings = sdk_stack.settings(
        directory, ingest.address, api_key="cairn_000000000000_wrong", finish_timeout_s=3
    )
    with caplog.at_level(logging.WARNING, logger="cairn"), cairn.init(settings=settings) as run:
        for step in range(100):
            run.log({"loss": float(step)}, step=step)
    assert "refused run" in caplog.text
    assert "UNAUTHENTICATED" in caplog.text.upper()
    assert run.spool_dir is not None
    assert run.spool_dir.exists()
    assert sdk_stack.events(run.id) == []

    code = main(
        [
            "sync",
            "--dir",
            str(directory),
            "--ingest-url",
            ingest.address,
            "--api-key",
            sdk_stack.api_key,
        ]
    )
    assert code == 0
    assert unique_points(sdk_stack.events(run.id)) == {"loss": list(range(100))}
    assert not run.spool_dir.exists()
