"""The registry reads of :mod:`cairn._registry` answered by the query service over gRPC
(``cairn.v1.Query``, the same address and API key as ingest)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cairn._query_client import QueryClient
from cairn._registry import AliasMove, ModelInfo, ModelVersion
from cairn.config import Settings
from cairn.errors import NotFoundError
from cairn.v1 import query_pb2


def _time(ns: int) -> datetime | None:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC) if ns else None


def model_version(info: Any) -> ModelVersion:
    return ModelVersion(
        name=info.name,
        version=info.version,
        run_id=info.run_id,
        sha256=info.sha256,
        uri=info.uri,
        aliases=tuple(info.aliases),
        stage=info.stage,
        artifact_name=info.artifact_name,
        description=info.description,
        tags=dict(info.tags),
        team=info.team,
        project=info.project,
        created_by=info.created_by,
        created_at=_time(info.created_at_ns),
    )


def _selector(selector: int | str | None) -> dict[str, Any]:
    if isinstance(selector, int):
        return {"version": selector}
    if isinstance(selector, str):
        return {"alias": selector}
    return {}


class GrpcRegistryReads:
    """One channel per instance; cheap enough to make per call of the public API."""

    def __init__(self, settings: Settings) -> None:
        self._client = QueryClient(settings)

    def version_created_by(self, model: str, event_id: str) -> ModelVersion | None:
        request = query_pb2.GetModelVersionRequest(model=model, created_event_id=event_id)
        try:
            return model_version(self._client.call("GetModelVersion", request).version)
        except NotFoundError:
            return None

    def resolve(self, model: str, selector: int | str | None) -> ModelVersion:
        request = query_pb2.GetModelVersionRequest(model=model, **_selector(selector))
        return model_version(self._client.call("GetModelVersion", request).version)

    def versions(self, model: str) -> list[ModelVersion]:
        request = query_pb2.ListModelVersionsRequest(model=model)
        return [model_version(v) for v in self._client.call("ListModelVersions", request).versions]

    def models(self) -> list[ModelInfo]:
        response = self._client.call("ListModels", query_pb2.ListModelsRequest())
        return [
            ModelInfo(
                m.name,
                m.team,
                m.project,
                m.description,
                m.versions,
                m.latest_version,
                dict(m.aliases),
            )
            for m in response.models
        ]

    def alias_history(self, model: str) -> list[AliasMove]:
        request = query_pb2.GetModelAliasHistoryRequest(model=model)
        return [
            AliasMove(
                m.kind,
                m.name,
                m.version,
                m.removed,
                m.reason,
                m.actor,
                _time(m.occurred_at_ns) or datetime.fromtimestamp(0, tz=UTC),
            )
            for m in self._client.call("GetModelAliasHistory", request).moves
        ]

    def artifact(self, run_id: str, name: str) -> tuple[str, str]:
        request = query_pb2.GetRunArtifactRequest(run_id=run_id, name=name)
        response = self._client.call("GetRunArtifact", request)
        return response.sha256, response.uri

    def report(self, model: str, selector: int | str | None, fmt: str) -> str:
        request = query_pb2.GetModelReportRequest(model=model, format=fmt, **_selector(selector))
        text: str = self._client.call("GetModelReport", request).text
        return text

    def close(self) -> None:
        self._client.close()
