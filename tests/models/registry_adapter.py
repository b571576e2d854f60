"""The SDK's registry reads answered by ``query/`` directly, as the query service will answer
them: the same functions, scoped to one caller. Tests install it with ``cairn._registry.use_reads``
until the query service's model RPCs are wired (the SDK never gets ClickHouse credentials)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from cairn._registry import AliasMove, ModelInfo, ModelVersion
from query import models as registry
from query import provenance
from query.access import Caller
from query.portal_reads import models_overview


def sdk_version(v: registry.RegistryVersion) -> ModelVersion:
    return ModelVersion(
        name=v.name,
        version=v.version,
        run_id=v.run_id,
        sha256=v.artifact_sha256,
        uri=v.artifact_uri,
        aliases=v.aliases,
        stage=v.stage,
        artifact_name=v.artifact_name,
        description=v.description,
        tags=v.tags,
        team=v.team,
        project=v.project,
        created_by=v.created_by,
        created_at=v.created_at,
    )


@dataclass
class QueryRegistryReads:
    client: Callable[[], Client]
    caller: Caller

    def version_created_by(self, model: str, event_id: str) -> ModelVersion | None:
        found = registry.version_created_by(self.client(), self.caller, model, event_id)
        return sdk_version(found) if found else None

    def resolve(self, model: str, selector: int | str | None) -> ModelVersion:
        return sdk_version(registry.resolve(self.client(), self.caller, model, selector))

    def versions(self, model: str) -> list[ModelVersion]:
        return [sdk_version(v) for v in registry.versions(self.client(), self.caller, model)]

    def models(self) -> list[ModelInfo]:
        out = []
        for m in models_overview(self.client(), self.caller):
            found = registry.versions(self.client(), self.caller, m.model_id)
            aliases = {a: v.version for v in found for a in v.aliases}
            out.append(
                ModelInfo(
                    m.name, m.team, m.project, m.description, m.versions, m.latest_version, aliases
                )
            )
        return out

    def alias_history(self, model: str) -> list[AliasMove]:
        moves = registry.alias_history(self.client(), self.caller, model)
        return [
            AliasMove(m.kind, m.name, m.version, m.removed, m.reason, m.actor, m.occurred_at)
            for m in moves
        ]

    def artifact(self, run_id: str, name: str) -> tuple[str, str]:
        return registry.run_artifact(self.client(), self.caller, run_id, name)

    def report(self, model: str, selector: int | str | None, fmt: str) -> str:
        from ui.report import provenance_html, provenance_markdown

        target = registry.resolve(self.client(), self.caller, model, selector)
        found = provenance.model_provenance(
            self.client(), self.caller, target.model_id, target.version
        )
        markdown = provenance_markdown(found, lambda user: user, reader=self.caller.user_id)
        if fmt == "html":
            return provenance_html(markdown, f"{target.name} v{target.version}: provenance")
        return markdown
