"""Where ``cairn reproduce`` reads runs: the query service (``cairn.v1.Query``), with the
caller's API key and visibility, like every read of the SDK and CLI.

``GetRun`` gives the run's capture; ``MetricHistory`` (every point: ``samples`` 0) its metrics.
Params arrive typed and are turned into the text the store keeps (``0.1``, ``3``, ``true``), the
form :class:`~cairn_contract.reproduction.RunRecord` holds on every path, so a report built here
equals one built by the query layer for the portal.
"""

from __future__ import annotations

from cairn._query_client import QueryClient
from cairn.config import Settings
from cairn.reproduce._record import (
    TAG_REPRODUCES,
    CodeRecord,
    DatasetInput,
    Points,
    RunRecord,
    RunRecordSource,
)
from cairn.reproduce._report import ReproductionReport, build_report
from cairn.v1 import common_pb2, query_pb2, runs_pb2


def param_text(value: runs_pb2.ParamValue) -> str:
    """A typed param as the store's text (``repr`` of a float, ``true``/``false``, '' for null)."""
    kind = value.WhichOneof("kind")
    if kind == "double_value":
        return repr(value.double_value)
    if kind == "int_value":
        return str(value.int_value)
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "string_value":
        return value.string_value
    return ""


def _role(role: int) -> str:
    return "output" if role == common_pb2.DATA_ROLE_OUTPUT else "input"


def run_record(run: query_pb2.Run) -> RunRecord:
    """A GetRun answer as a :class:`RunRecord`."""
    code = run.code if run.HasField("code") else None
    env = run.environment if run.HasField("environment") else None
    return RunRecord(
        run_id=run.info.run_id,
        name=run.info.name,
        team=run.info.team,
        project=run.info.project,
        status=run.info.status,
        command_line=tuple(run.command_line),
        code=CodeRecord.of(code) if code is not None else None,
        python_version=env.python_version if env else "",
        packages={p.name: p.version for p in env.packages} if env else {},
        container_image=env.container_image if env else "",
        container_digest=env.container_digest if env else "",
        datasets=tuple(
            DatasetInput(d.name, d.uri, d.digest, d.manifest_digest, d.file_count, _role(d.role))
            for d in run.datasets
        ),
        params={key: param_text(value) for key, value in sorted(run.params.items())},
        tags=dict(sorted(run.tags.items())),
    )


class QueryServiceSource:
    """A :class:`~cairn.reproduce.RunRecordSource` over the query service."""

    def __init__(self, settings: Settings, client: QueryClient | None = None) -> None:
        self._client = client or QueryClient(settings)

    def get_run(self, run_id: str) -> RunRecord:
        reply = self._client.call("GetRun", query_pb2.GetRunRequest(run_id=run_id))
        return run_record(reply.run)

    def metric_points(self, run_id: str) -> Points:
        request = query_pb2.MetricHistoryRequest(run_ids=[run_id], samples=0)
        out: dict[str, list[tuple[int, float]]] = {}
        for chunk in self._client.stream("MetricHistory", request):
            out.setdefault(chunk.key, []).extend(zip(chunk.steps, chunk.values, strict=True))
        return {key: sorted(points) for key, points in out.items()}

    def close(self) -> None:
        self._client.close()


def open_source(settings: Settings) -> QueryServiceSource:
    return QueryServiceSource(settings)


def report_between(source: RunRecordSource, run_a: str, run_b: str) -> ReproductionReport | None:
    """The reproduction report when one of the two runs reproduces the other (its
    ``cairn.reproduces`` tag names the other), else None: what ``cairn diff`` adds."""
    a, b = source.get_run(run_a), source.get_run(run_b)
    if b.tags.get(TAG_REPRODUCES) == a.run_id:
        original, reproduction = a, b
    elif a.tags.get(TAG_REPRODUCES) == b.run_id:
        original, reproduction = b, a
    else:
        return None
    return build_report(
        original,
        reproduction,
        source.metric_points(original.run_id),
        source.metric_points(reproduction.run_id),
    )
