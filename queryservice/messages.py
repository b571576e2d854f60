"""The query layer's frozen records as ``cairn.v1`` messages (pure conversions, no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from google.protobuf import struct_pb2

from cairn_contract.v1 import common_pb2, provenance_pb2, query_pb2, runs_pb2
from domain.diffs import DatasetRecord as DomainDataset
from query._records import CodeVersion, Environment, MetricSummary, RunSummary
from query.compare import RunComparison
from query.diffs import CodeDiff, DatasetsDiff, EnvironmentDiff
from query.run_details import (
    ArtifactRecord,
    DatasetRecord,
    PackageRecord,
    ParamValue,
    RunDetails,
    RunRow,
)

_ROLES = {
    "input": common_pb2.DATA_ROLE_INPUT,
    "output": common_pb2.DATA_ROLE_OUTPUT,
}


def nanos(moment: datetime | None) -> int:
    if moment is None:
        return 0
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1_000


def run_info(summary: RunSummary, last_sequence: int) -> query_pb2.RunInfo:
    return query_pb2.RunInfo(
        run_id=summary.run_id,
        team=summary.team,
        project=summary.project,
        name=summary.name,
        owner=summary.owner,
        created_by=summary.created_by,
        status=summary.status,
        status_reason=summary.status_reason,
        description=summary.description,
        created_at_ns=nanos(summary.created_at),
        started_at_ns=nanos(summary.started_at),
        finished_at_ns=nanos(summary.finished_at),
        exit_code=summary.exit_code,
        archived=summary.archived,
        parent_run_id=summary.parent_run_id,
        sweep_id=summary.sweep_id,
        host=summary.host,
        last_sequence=last_sequence,
    )


def param_value(value: ParamValue) -> runs_pb2.ParamValue:
    if value is None:
        return runs_pb2.ParamValue(null_value=struct_pb2.NULL_VALUE)
    if isinstance(value, bool):
        return runs_pb2.ParamValue(bool_value=value)
    if isinstance(value, int):
        return runs_pb2.ParamValue(int_value=value)
    if isinstance(value, float):
        return runs_pb2.ParamValue(double_value=value)
    return runs_pb2.ParamValue(string_value=value)


def params(values: Mapping[str, ParamValue]) -> dict[str, runs_pb2.ParamValue]:
    return {key: param_value(value) for key, value in values.items()}


def metric_summary(key: str, summary: MetricSummary) -> query_pb2.MetricSummary:
    return query_pb2.MetricSummary(
        key=key,
        last=summary.last,
        min=summary.min,
        max=summary.max,
        last_step=summary.last_step,
        count=summary.count,
    )


def code_version(code: CodeVersion) -> provenance_pb2.CodeVersionRecorded:
    return provenance_pb2.CodeVersionRecorded(
        git_remote=code.git_remote,
        branch=code.branch,
        commit=code.commit,
        dirty=code.dirty,
        diff=code.diff,
        diff_truncated=code.diff_truncated,
        diff_sha256=code.diff_sha256,
        entry_point=code.entry_point,
    )


def environment(
    env: Environment, packages: tuple[PackageRecord, ...]
) -> provenance_pb2.EnvironmentRecorded:
    return provenance_pb2.EnvironmentRecorded(
        python_version=env.python_version,
        python_implementation=env.python_implementation,
        os=env.os,
        os_version=env.os_version,
        cpu_model=env.cpu_model,
        cpu_count=env.cpu_count,
        memory_bytes=env.memory_bytes,
        gpus=[provenance_pb2.Gpu(name=name) for name in env.gpus],
        cuda_version=env.cuda_version,
        cudnn_version=env.cudnn_version,
        packages=[
            provenance_pb2.Package(name=p.name, version=p.version, source=p.source)
            for p in packages
        ],
        container_image=env.container_image,
        container_digest=env.container_digest,
        hostname=env.hostname,
    )


def dataset(record: DatasetRecord) -> provenance_pb2.DatasetRecorded:
    return provenance_pb2.DatasetRecorded(
        name=record.name,
        uri=record.uri,
        digest=record.digest,
        size_bytes=record.size_bytes,
        manifest_digest=record.manifest_digest,
        file_count=record.file_count,
        role=_ROLES.get(record.role, common_pb2.DATA_ROLE_UNSPECIFIED),
        version=record.version,
    )


def artifact(record: ArtifactRecord) -> provenance_pb2.ArtifactLogged:
    try:
        kind = provenance_pb2.ArtifactKind.Value(f"ARTIFACT_KIND_{record.kind.upper()}")
    except ValueError:
        kind = provenance_pb2.ARTIFACT_KIND_UNSPECIFIED
    return provenance_pb2.ArtifactLogged(
        name=record.name,
        kind=kind,
        uri=record.uri,
        sha256=record.sha256,
        size_bytes=record.size_bytes,
        metadata=[common_pb2.KeyValue(key=k, value=v) for k, v in sorted(record.metadata.items())],
        role=_ROLES.get(record.role, common_pb2.DATA_ROLE_UNSPECIFIED),
    )


def run(details: RunDetails) -> query_pb2.Run:
    message = query_pb2.Run(
        info=run_info(details.summary, details.last_sequence),
        params=params(details.params),
        tags=details.tags,
        metrics=[metric_summary(k, v) for k, v in sorted(details.metrics.items())],
        datasets=[dataset(d) for d in details.datasets],
        artifacts=[artifact(a) for a in details.artifacts],
        command_line=details.command_line,
        traceback=details.traceback,
    )
    if details.code is not None:
        message.code.CopyFrom(code_version(details.code))
    if details.environment is not None:
        message.environment.CopyFrom(environment(details.environment, details.packages))
    return message


def run_row(row: RunRow) -> query_pb2.RunRow:
    return query_pb2.RunRow(
        info=run_info(row.summary, row.last_sequence),
        params=params(row.params),
        tags=row.tags,
        metrics=row.metrics,
    )


def comparison(result: RunComparison) -> query_pb2.CompareRunsResponse:
    return query_pb2.CompareRunsResponse(
        runs=[run_info(summary, 0) for summary in result.runs],
        params_differing=[
            query_pb2.ParamComparison(
                key=kv.key,
                values=[v or "" for v in kv.values],
                present=[v is not None for v in kv.values],
            )
            for kv in result.params_differing
        ],
        params_common=dict(result.params_common),
        metrics=[
            query_pb2.MetricComparison(
                key=m.key,
                last=[_number(v) for v in m.last],
                min=[_number(v) for v in m.min],
                max=[_number(v) for v in m.max],
                present=[v is not None for v in m.last],
            )
            for m in result.metrics
        ],
        same_code=result.same_code,
        same_environment=result.same_environment,
        same_datasets=result.same_datasets,
    )


def _number(value: float | None) -> float:
    return float("nan") if value is None else value


def _dataset_slot(record: DomainDataset) -> str:
    return f"{record.role}/{record.name}"


def difference(
    code: CodeDiff, environment: EnvironmentDiff, data: DatasetsDiff, compared: RunComparison
) -> query_pb2.DiffRunsResponse:
    response = query_pb2.DiffRunsResponse(
        run_a=code.run_a,
        run_b=code.run_b,
        same_commit=code.same_commit,
        same_patch=code.same_patch,
        patch_diff=code.patch_diff,
        compare_url=code.compare_url or "",
    )
    if code.code_a is not None:
        response.code_a.CopyFrom(code_version(code.code_a))
    if code.code_b is not None:
        response.code_b.CopyFrom(code_version(code.code_b))
    response.environment.extend(
        query_pb2.FieldChange(key=c.key, before=c.before, after=c.after) for c in environment.fields
    )
    packages = environment.packages
    response.packages.extend(
        [
            *(query_pb2.FieldChange(key=k, before="", after=v) for k, v in packages.added),
            *(query_pb2.FieldChange(key=k, before=v, after="") for k, v in packages.removed),
            *(
                query_pb2.FieldChange(key=c.key, before=c.before, after=c.after)
                for c in packages.changed
            ),
        ]
    )
    datasets = data.datasets
    response.datasets.extend(
        [
            *(query_pb2.FieldChange(key=_dataset_slot(d), after=d.digest) for d in datasets.added),
            *(
                query_pb2.FieldChange(key=_dataset_slot(d), before=d.digest)
                for d in datasets.removed
            ),
            *(
                query_pb2.FieldChange(
                    key=f"{c.role}/{c.name}", before=c.before.digest, after=c.after.digest
                )
                for c in datasets.changed
            ),
        ]
    )
    if len(compared.run_ids) == 2:
        response.params.extend(
            query_pb2.FieldChange(key=kv.key, before=kv.values[0] or "", after=kv.values[1] or "")
            for kv in compared.params_differing
        )
    return response
