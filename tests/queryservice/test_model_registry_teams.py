"""The model registry across teams, through the real query service and ingest: a key of team
``risk`` can neither read, register, alias nor download team ``vision``'s model (every model RPC
of ``cairn.v1.Query`` and every model write), until vision shares the model with risk, which then
reads and downloads it, and still cannot change it (docs/permissions.md, W4, W6, R12)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest

import cairn
from cairn._query_client import QueryClient
from cairn._registry import append, model_event
from cairn._registry_client import GrpcRegistryReads
from cairn.v1 import models_pb2
from cairn_contract.ids import new_uuid7
from cairn_contract.v1 import collaboration_pb2, envelope_pb2, events_pb2
from tests.pipeline import TEAM
from tests.queryservice.world import OTHER_TEAM, PROJECT, World

pytestmark = pytest.mark.integration

MODEL_BYTES = b"vision's weights\n" * 64


@dataclass(frozen=True)
class Registered:
    name: str
    run_id: str
    artifact: str


def _env(world: World, monkeypatch: pytest.MonkeyPatch, key: str, team: str, home: Path) -> None:
    """Make the SDK's module-level calls (``cairn.set_model_alias`` ...) act with ``key``."""
    for name, value in world.pipeline.env(home, PROJECT if team == TEAM else "models").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CAIRN_API_KEY", key)
    monkeypatch.setenv("CAIRN_TEAM", team)


@pytest.fixture(scope="module")
def registered(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registered]:
    """Vision's model, version 1 (alias ``production``), logged from one of its runs."""
    home = tmp_path_factory.mktemp("vision-model")
    weights = home / "weights.bin"
    weights.write_bytes(MODEL_BYTES)
    name = f"vision-model-{uuid.uuid4().hex[:6]}"
    monkeypatch = pytest.MonkeyPatch()
    try:
        _env(world, monkeypatch, world.vision_key, TEAM, home)
        with cairn.init(name="train-vision-model") as run:
            version = run.log_model(weights, name, aliases=("production",))
        assert version.version == 1
        yield Registered(name, run.id, "weights.bin")
    finally:
        monkeypatch.undo()


def _reads(world: World, key: str, team: str) -> GrpcRegistryReads:
    return GrpcRegistryReads(world.settings(key, team))


def _not_found(call: object) -> None:
    with pytest.raises(cairn.CairnError) as caught:
        call()  # type: ignore[operator]
    assert caught.value.code is cairn.ErrorCode.NOT_FOUND, caught.value


def _share_model(world: World, model: str, access: bool) -> None:
    """Vision shares (or stops sharing) its model with team risk for reads."""
    event = events_pb2.Event(
        envelope=envelope_pb2.Envelope(
            event_id=new_uuid7(),
            schema_version=1,
            aggregate_kind=envelope_pb2.AGGREGATE_KIND_MODEL,
            aggregate_id=model,
            occurred_at_ns=time.time_ns(),
            team=TEAM,
            project=PROJECT,
        )
    )
    change = event.resource_shared if access else event.resource_unshared
    change.grantee.kind = collaboration_pb2.PRINCIPAL_KIND_TEAM
    change.grantee.id = OTHER_TEAM
    if access:
        event.resource_shared.access = collaboration_pb2.ACCESS_LEVEL_VIEW
    client = QueryClient(world.settings(world.vision_key, TEAM))
    try:
        client.append([event])
    finally:
        client.close()


def _until(check: object, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        time.sleep(0.3)


def test_another_team_cannot_read_the_model_through_any_rpc(
    world: World, registered: Registered
) -> None:
    name = registered.name
    owner, other = _reads(world, world.vision_key, TEAM), _reads(world, world.risk_key, OTHER_TEAM)
    try:
        # The owner's key sees it through every RPC ...
        assert owner.resolve(name, 1).sha256 == owner.resolve(name, "production").sha256
        assert [v.version for v in owner.versions(name)] == [1]
        assert name in {m.name for m in owner.models()}
        assert [m.name for m in owner.alias_history(name)] == ["production"]
        assert name in owner.report(name, 1, "md")
        assert owner.artifact(registered.run_id, registered.artifact)[0]
        # ... another team's key through none: NOT_FOUND, or absent from lists.
        _not_found(lambda: other.resolve(name, 1))  # GetModelVersion by number
        _not_found(lambda: other.resolve(name, "production"))  # ... by alias
        _not_found(lambda: other.resolve(name, None))  # ... the newest
        assert other.versions(name) == []  # ListModelVersions
        assert name not in {m.name for m in other.models()}  # ListModels
        _not_found(lambda: other.alias_history(name))  # GetModelAliasHistory
        _not_found(lambda: other.report(name, 1, "md"))  # GetModelReport
        _not_found(lambda: other.report(name, 1, "html"))
        _not_found(lambda: other.artifact(registered.run_id, registered.artifact))  # GetRunArtifact
    finally:
        owner.close()
        other.close()


def test_another_team_cannot_register_alias_or_download_the_model(
    world: World, registered: Registered, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = registered.name
    _env(world, monkeypatch, world.risk_key, OTHER_TEAM, tmp_path)
    # Reads that writes start with: the model is "not found" for risk.
    _not_found(lambda: cairn.register_model(registered.run_id, registered.artifact, name))
    _not_found(lambda: cairn.set_model_alias(name, 1, "production", reason="take over"))
    _not_found(lambda: cairn.delete_model_alias(name, "production", reason="take over"))
    _not_found(lambda: cairn.archive_model_version(name, 1, reason="take over"))
    _not_found(lambda: cairn.use_model(f"{name}@production", cache_dir=tmp_path / "cache"))
    _not_found(lambda: cairn.model_report(f"{name}:1"))
    # Registering its own file under vision's model name: ingest refuses the foreign aggregate.
    weights = tmp_path / "risk.bin"
    weights.write_bytes(b"risk's weights")
    with cairn.init(name="risk-impostor") as run, pytest.raises(cairn.CairnError) as caught:
        run.log_model(weights, name)
    assert caught.value.code is cairn.ErrorCode.PERMISSION_DENIED
    assert "aggregate_owner" in str(caught.value)
    # Every model write, sent straight to ingest with risk's key: PERMISSION_DENIED.
    settings = world.settings(world.risk_key, OTHER_TEAM)
    for field, payload in (
        ("model_registered", models_pb2.ModelRegistered(name=name)),
        ("model_version_created", models_pb2.ModelVersionCreated(
            run_id=run.id, artifact_name="risk.bin", artifact_uri="file:///x", artifact_sha256="0" * 64)),
        ("model_alias_set", models_pb2.ModelAliasSet(alias="production", version=1, reason="x")),
        ("model_alias_removed", models_pb2.ModelAliasRemoved(alias="production", reason="x")),
        ("model_version_stage_changed", models_pb2.ModelVersionStageChanged(
            version=1, stage=models_pb2.MODEL_STAGE_ARCHIVED, reason="x")),
        ("model_version_updated", models_pb2.ModelVersionUpdated(version=1, description="x", set_description=True)),
    ):  # fmt: skip
        with pytest.raises(cairn.CairnError) as refused:
            append(settings, [model_event(settings, name, field, payload)])
        assert refused.value.code is cairn.ErrorCode.PERMISSION_DENIED, field
    with closing(_reads(world, world.vision_key, TEAM)) as owner:
        [version] = owner.versions(name)  # nothing of risk's reached the model
    assert (version.version, version.aliases, version.stage) == (1, ("production",), "none")


def test_a_model_shared_for_reads_can_be_read_and_downloaded_but_not_changed(
    world: World, registered: Registered, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = registered.name
    _share_model(world, name, access=True)
    with closing(_reads(world, world.risk_key, OTHER_TEAM)) as other:
        _until(lambda: other.versions(name), "the share reached the store")
        assert other.resolve(name, "production").version == 1
        assert name in {m.name for m in other.models()}
        assert [m.name for m in other.alias_history(name)] == ["production"]
        assert name in other.report(name, 1, "md")
        # The building run itself was not shared: its artifact stays out of reach.
        _not_found(lambda: other.artifact(registered.run_id, registered.artifact))
    _env(world, monkeypatch, world.risk_key, OTHER_TEAM, tmp_path)
    path = cairn.use_model(f"{name}@production", cache_dir=tmp_path / "cache")
    assert path.read_bytes() == MODEL_BYTES
    # Reading is all a share gives: moving an alias is still a foreign write.
    with pytest.raises(cairn.CairnError) as caught:
        cairn.set_model_alias(name, 1, "champion", reason="shared, not ours")
    assert caught.value.code is cairn.ErrorCode.PERMISSION_DENIED
    with pytest.raises(cairn.CairnError) as caught:
        cairn.delete_model_alias(name, "production", reason="shared, not ours")
    assert caught.value.code is cairn.ErrorCode.PERMISSION_DENIED
    # Unshared, the model is gone for risk again.
    _share_model(world, name, access=False)
    with closing(_reads(world, world.risk_key, OTHER_TEAM)) as other:
        _until(lambda: not other.versions(name), "the unshare reached the store")
        _not_found(lambda: other.resolve(name, 1))
