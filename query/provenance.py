"""How a model version was built, in one answer: the "explain this model" report.

:func:`model_provenance` gathers, for a registered model version: the version itself (artifact,
stage, aliases, stage history), the run that built it with its parameters, metrics, tags, code,
environment and datasets (with digests), the upstream lineage (ancestor runs, datasets and
artifacts), the comments and decisions on the run and the model, and a timeline of who did what
when. Everything is filtered by the caller's visibility: an ancestor run the caller may not see
is left out of the lineage (and counted in ``hidden_ancestors``), never shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from cairn_contract.errors import NotFoundError, ValidationError
from domain.diffs import DatasetRecord
from query import _execute, _records, branches, collaboration
from query import model_registry as registry
from query._records import CodeVersion, Environment, MetricSummary, RunSummary
from query.access import Caller, Visibility
from query.collaboration import Activity, Comment, Decision
from query.lineage import LineageGraph, Node, NodeKind, lineage
from query.model_registry import RegistryVersion


@dataclass(frozen=True)
class StageChange:
    kind: str  # stage / alias
    name: str
    removed: bool
    reason: str
    actor: str
    occurred_at: datetime
    version: int = 0  # the version an alias moved to or a stage applies to (0: alias removed)


@dataclass(frozen=True)
class ModelProvenance:
    model: RegistryVersion
    run: RunSummary | None  # None if the building run is not visible to the caller
    params: dict[str, str]
    metrics: dict[str, MetricSummary]
    tags: dict[str, str]
    code: CodeVersion | None
    environment: Environment | None
    datasets: tuple[DatasetRecord, ...]
    lineage: LineageGraph  # upstream of the model version
    ancestor_runs: tuple[RunSummary, ...]  # visible runs upstream, excluding ``run``
    upstream_datasets: tuple[tuple[str, str], ...]  # (name, digest) anywhere upstream
    hidden_ancestors: int  # upstream runs the caller may not see
    stage_history: tuple[StageChange, ...]  # this version's stages; every alias move of the model
    comments: tuple[Comment, ...]  # on the run and on the model
    decisions: tuple[Decision, ...]  # naming the run, or on the model
    timeline: tuple[Activity, ...]  # the run's and the model's events, oldest first
    # The building run's fork chain, nearest first (query.branches.run_branches: ends above the
    # first parent the caller may not see); empty when the run was not forked or is not visible.
    fork_chain: tuple[branches.Fork, ...] = ()


def _resolve(client: Client, vis: Visibility, model: str, version: int | str) -> RegistryVersion:
    """Find the version by model id or name, and by number, alias or stage (the registry's one
    read of versions, :func:`query.model_registry.versions_sql`); an exact model id wins."""
    sql = registry.versions_sql(vis, "v.model_id = {model:String} OR n.name = {model:String}")
    found = sorted(
        (
            row
            for row in _execute.rows(client, sql, {"model": model, **vis.parameters})
            if _matches(row, version)
        ),
        key=lambda row: row["model_id"] != model,
    )
    models = {row["model_id"] for row in found}
    if not found:
        raise NotFoundError(
            f"no model version {model!r} {version!r} (or not visible to you)", field="model"
        )
    if len(models) > 1 and found[0]["model_id"] != model:
        raise ValidationError(
            f"model name {model!r} is ambiguous ({', '.join(sorted(models))}): use the model id",
            field="model",
            rule="ambiguous",
        )
    return registry.version_from_row(found[0])


def _matches(row: dict[str, Any], version: int | str) -> bool:
    if isinstance(version, int):
        return bool(row["version"] == version)
    return version in (row["aliases"] or ()) or row["stage"] == version


def _stage_history(client: Client, vis: Visibility, mv: RegistryVersion) -> tuple[StageChange, ...]:
    sql = f"""
SELECT kind, name, removed, reason, actor, occurred_at, version
FROM (SELECT DISTINCT * FROM {vis.table("model_stages")} WHERE model_id = {{model:String}})
WHERE version = {{version:UInt64}} OR kind = 'alias'
ORDER BY occurred_at, sequence, event_id
"""
    rows = _execute.rows(client, sql, {"model": mv.model_id, "version": mv.version})
    return tuple(StageChange(**{**row, "removed": bool(row["removed"])}) for row in rows)


def model_provenance(
    client: Client,
    caller: Caller,
    model: str,
    version: int | str,
    *,
    database: str | None = None,
    depth: int = 5,
) -> ModelProvenance:
    """Everything that explains how ``model`` (id or name) ``version`` (number, alias or stage
    such as ``"production"``) was built. Raises NotFoundError if it is not visible."""
    vis = Visibility.load(client, caller, database)
    mv = _resolve(client, vis, model, version)
    graph = lineage(
        client,
        caller,
        Node(NodeKind.MODEL_VERSION, mv.model_id, mv.version),
        "upstream",
        depth,
        database=vis.database,
    )
    upstream_runs = [n.node.id for n in graph.nodes if n.node.kind == NodeKind.RUN]
    runs = _records.visible_runs(client, vis, list(dict.fromkeys([mv.run_id, *upstream_runs])))
    ids = [mv.run_id] if mv.run_id in runs else []
    chain = (
        branches.run_branches(client, caller, mv.run_id, database=vis.database).ancestors
        if ids
        else ()
    )
    params = _records.params(client, vis, ids).get(mv.run_id, {}) if ids else {}
    metrics = _records.metric_summaries(client, vis, ids).get(mv.run_id, {}) if ids else {}
    tags = _records.tags(client, vis, ids).get(mv.run_id, {}) if ids else {}
    code = _records.code_versions(client, vis, ids).get(mv.run_id) if ids else None
    env = _records.environments(client, vis, ids).get(mv.run_id) if ids else None
    datasets = _records.datasets(client, vis, ids).get(mv.run_id, ()) if ids else ()
    comments = (
        collaboration.comments(client, caller, "run", mv.run_id, database=vis.database)
        if ids
        else ()
    ) + collaboration.comments(client, caller, "model", mv.model_id, database=vis.database)
    decisions = {
        d.decision_id: d
        for d in (
            *(collaboration.decisions(client, caller, run_id=mv.run_id, database=vis.database)),
            *collaboration.decisions(
                client, caller, target_kind="model", target_id=mv.model_id, database=vis.database
            ),
        )
    }
    timeline = [
        *(
            collaboration.activity(
                client, caller, run_id=mv.run_id, limit=1000, database=vis.database
            )
            if ids
            else ()
        ),
        *_model_activity(client, vis, mv.model_id),
    ]
    return ModelProvenance(
        model=mv,
        run=runs.get(mv.run_id),
        params=params,
        metrics=metrics,
        tags=tags,
        code=code,
        environment=env,
        datasets=datasets,
        lineage=graph,
        ancestor_runs=tuple(runs[r] for r in upstream_runs if r in runs and r != mv.run_id),
        upstream_datasets=tuple(
            sorted((n.name, n.node.id) for n in graph.nodes if n.node.kind == NodeKind.DATASET)
        ),
        hidden_ancestors=sum(1 for r in upstream_runs if r not in runs),
        fork_chain=chain,
        stage_history=_stage_history(client, vis, mv),
        comments=comments,
        decisions=tuple(sorted(decisions.values(), key=lambda d: (d.decided_at, d.decision_id))),
        timeline=tuple(sorted(timeline, key=lambda a: (a.occurred_at, a.event_type))),
    )


def _model_activity(client: Client, vis: Visibility, model_id: str) -> tuple[Activity, ...]:
    visible = vis.predicate("team", "project", kind="'model'", object_id="aggregate_id")
    sql = f"""
SELECT DISTINCT event_id, occurred_at, team, project, actor_kind, actor, event_type,
    aggregate_kind, aggregate_id
FROM {vis.table("events")}
WHERE aggregate_kind = 'model' AND aggregate_id = {{model:String}} AND {visible}
ORDER BY occurred_at
"""
    rows = _execute.rows(client, sql, {"model": model_id, **vis.parameters})
    return tuple(Activity(**row) for row in rows)
