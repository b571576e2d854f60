"""Run RPCs: ``GetRun`` and ``SearchRuns``."""

from __future__ import annotations

from cairn_contract.errors import ValidationError
from cairn_contract.v1 import query_pb2
from domain.filters import parse_filter, parse_order_by
from query.run_details import run_details, search_page
from queryservice import messages
from queryservice.paging import decode_token, encode_token, search_digest
from queryservice.rpc import ReadContext, Rpc, unary

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1_000
_SLUG_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_.")


def get_run(ctx: ReadContext, request: query_pb2.GetRunRequest) -> query_pb2.GetRunResponse:
    if not request.run_id:
        raise ValidationError("run_id is required", field="run_id", rule="required")
    details = run_details(ctx.client, ctx.caller, request.run_id, database=ctx.database)
    return query_pb2.GetRunResponse(run=messages.run(details))


def project_filter(project: str, filter: str) -> str:
    """``filter`` narrowed to one project. The user's filter is parsed on its own first, so an
    error points at a character of what they wrote."""
    parse_filter(filter)
    if not project:
        return filter
    if not set(project.lower()) <= _SLUG_CHARS:
        raise ValidationError(
            f"project must be a project slug (letters, digits, '-', '_', '.'), got {project!r}",
            field="project",
            rule="slug",
        )
    scoped = f"project = '{project}'"
    return f"{scoped} and ({filter})" if filter.strip() else scoped


def search_runs(
    ctx: ReadContext, request: query_pb2.SearchRunsRequest
) -> query_pb2.SearchRunsResponse:
    page_size = request.page_size or DEFAULT_PAGE_SIZE
    if page_size > MAX_PAGE_SIZE:
        raise ValidationError(
            f"page_size must be at most {MAX_PAGE_SIZE}, got {page_size}",
            field="page_size",
            rule="range",
        )
    filter = project_filter(request.project, request.filter)
    parse_order_by(request.order_by or None)
    digest = search_digest(request.filter, request.order_by, request.project)
    offset = decode_token(request.page_token, digest)
    rows, more = search_page(
        ctx.client,
        ctx.caller,
        filter=filter or None,
        order_by=request.order_by or None,
        limit=page_size,
        offset=offset,
        database=ctx.database,
    )
    return query_pb2.SearchRunsResponse(
        runs=[messages.run_row(row) for row in rows],
        next_page_token=encode_token(offset + page_size, digest) if more else "",
    )


RPCS: tuple[Rpc, ...] = (
    unary("GetRun", query_pb2.GetRunRequest, query_pb2.GetRunResponse, get_run),
    unary("SearchRuns", query_pb2.SearchRunsRequest, query_pb2.SearchRunsResponse, search_runs),
)
