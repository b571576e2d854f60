"""Model registry RPCs: versions by number, alias or creating event; lists; alias history; the
provenance report; a run's artifact. Every answer is scoped to the caller by ``query/``."""

from __future__ import annotations

from datetime import datetime

from cairn_contract.errors import NotFoundError, ValidationError
from cairn_contract.v1 import query_pb2
from query import model_registry as registry
from query.models import models_overview
from query.provenance import model_provenance
from queryservice.rpc import ReadContext, Rpc, unary
from reports.provenance_report import provenance_html, provenance_markdown

REPORT_FORMATS = ("md", "html")


def _ns(value: datetime | None) -> int:
    return int(value.timestamp() * 1_000_000_000) if value else 0


def version_info(v: registry.RegistryVersion) -> query_pb2.ModelVersionInfo:
    return query_pb2.ModelVersionInfo(
        name=v.name,
        version=v.version,
        run_id=v.run_id,
        sha256=v.artifact_sha256,
        uri=v.artifact_uri,
        aliases=list(v.aliases),
        stage=v.stage,
        artifact_name=v.artifact_name,
        description=v.description,
        tags=v.tags,
        team=v.team,
        project=v.project,
        created_by=v.created_by,
        created_at_ns=_ns(v.created_at),
        created_event_id=v.created_event_id,
    )


def _model(name: str) -> str:
    if not name:
        raise ValidationError("model is required", field="model", rule="required")
    return name


def _selector(version: int, alias: str) -> int | str | None:
    if version and alias:
        raise ValidationError("give a version or an alias, not both", field="alias", rule="one_of")
    return version or alias or None


def get_model_version(
    ctx: ReadContext, request: query_pb2.GetModelVersionRequest
) -> query_pb2.GetModelVersionResponse:
    model = _model(request.model)
    if request.created_event_id:
        found = registry.version_created_by(
            ctx.client, ctx.caller, model, request.created_event_id, database=ctx.database
        )
        if found is None:
            raise NotFoundError(
                f"model: {model!r} has no version from event {request.created_event_id} (yet)",
                field="created_event_id",
            )
    else:
        selector = _selector(request.version, request.alias)
        found = registry.resolve(ctx.client, ctx.caller, model, selector, database=ctx.database)
    return query_pb2.GetModelVersionResponse(version=version_info(found))


def list_model_versions(
    ctx: ReadContext, request: query_pb2.ListModelVersionsRequest
) -> query_pb2.ListModelVersionsResponse:
    found = registry.versions(ctx.client, ctx.caller, _model(request.model), database=ctx.database)
    return query_pb2.ListModelVersionsResponse(versions=[version_info(v) for v in found])


def list_models(
    ctx: ReadContext, request: query_pb2.ListModelsRequest
) -> query_pb2.ListModelsResponse:
    out = []
    for m in models_overview(ctx.client, ctx.caller, database=ctx.database):
        found = registry.versions(ctx.client, ctx.caller, m.model_id, database=ctx.database)
        out.append(
            query_pb2.ModelInfo(
                name=m.name,
                team=m.team,
                project=m.project,
                description=m.description,
                versions=m.versions,
                latest_version=m.latest_version,
                aliases={a: v.version for v in found for a in v.aliases},
            )
        )
    return query_pb2.ListModelsResponse(models=out)


def get_model_alias_history(
    ctx: ReadContext, request: query_pb2.GetModelAliasHistoryRequest
) -> query_pb2.GetModelAliasHistoryResponse:
    moves = registry.alias_history(
        ctx.client, ctx.caller, _model(request.model), database=ctx.database
    )
    return query_pb2.GetModelAliasHistoryResponse(
        moves=[
            query_pb2.ModelAliasMove(
                kind=m.kind,
                name=m.name,
                version=m.version,
                removed=m.removed,
                reason=m.reason,
                actor=m.actor,
                occurred_at_ns=_ns(m.occurred_at),
            )
            for m in moves
        ]
    )


def get_model_report(
    ctx: ReadContext, request: query_pb2.GetModelReportRequest
) -> query_pb2.GetModelReportResponse:
    # The portal's renderer too (reports/: Markdown, and HTML sanitized by reports.markdown): the
    # report is the same whichever door it is asked through.
    fmt = request.format or "md"
    if fmt not in REPORT_FORMATS:
        raise ValidationError(
            f"format must be one of {', '.join(REPORT_FORMATS)}, got {fmt!r}",
            field="format",
            rule="one_of",
        )
    selector = _selector(request.version, request.alias)
    target = registry.resolve(
        ctx.client, ctx.caller, _model(request.model), selector, database=ctx.database
    )
    report = model_provenance(
        ctx.client, ctx.caller, target.model_id, target.version, database=ctx.database
    )
    text = provenance_markdown(report, lambda user: user, reader=ctx.caller.user_id)
    if fmt == "html":
        text = provenance_html(text, f"{target.name} v{target.version}: provenance")
    return query_pb2.GetModelReportResponse(text=text)


def get_run_artifact(
    ctx: ReadContext, request: query_pb2.GetRunArtifactRequest
) -> query_pb2.GetRunArtifactResponse:
    if not request.run_id or not request.name:
        raise ValidationError("run_id and name are required", field="run_id", rule="required")
    sha256, uri = registry.run_artifact(
        ctx.client, ctx.caller, request.run_id, request.name, database=ctx.database
    )
    return query_pb2.GetRunArtifactResponse(sha256=sha256, uri=uri)


RPCS: tuple[Rpc, ...] = (
    unary(
        "GetModelVersion",
        query_pb2.GetModelVersionRequest,
        query_pb2.GetModelVersionResponse,
        get_model_version,
    ),
    unary(
        "ListModelVersions",
        query_pb2.ListModelVersionsRequest,
        query_pb2.ListModelVersionsResponse,
        list_model_versions,
    ),
    unary("ListModels", query_pb2.ListModelsRequest, query_pb2.ListModelsResponse, list_models),
    unary(
        "GetModelAliasHistory",
        query_pb2.GetModelAliasHistoryRequest,
        query_pb2.GetModelAliasHistoryResponse,
        get_model_alias_history,
    ),
    unary(
        "GetModelReport",
        query_pb2.GetModelReportRequest,
        query_pb2.GetModelReportResponse,
        get_model_report,
    ),
    unary(
        "GetRunArtifact",
        query_pb2.GetRunArtifactRequest,
        query_pb2.GetRunArtifactResponse,
        get_run_artifact,
    ),
)
