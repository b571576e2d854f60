"""Comparing runs side by side: what differed in their inputs, and how they turned out.

:func:`compare_runs` answers "why did these runs behave differently?": the parameters that
differ (only those, with each run's value), the summary metrics per run, tags and status, and
each run's identity (code commit and patch digest, environment, datasets with digests), so a
difference that is not in the parameters is still visible.

The runs are checked against the caller's visibility while the detail queries run in parallel
(one per kind of record, each over all runs at once); the check's verdict is taken before any
detail is used. A 50-run comparison thus costs about the latency of the slowest single query.

With ``partial=True`` (a shared comparison link naming a run the caller may not see), the runs
the caller may see are compared and the others only counted in ``hidden``: a run that does not
exist and one that is not visible count the same, and nothing else about them is returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from clickhouse_connect.driver.client import Client

from cairn_contract.errors import ValidationError
from domain.diffs import DatasetRecord, KeyValues, split_common
from query import _records
from query._records import CodeVersion, Environment, MetricSummary, RunSummary
from query.access import Caller, Visibility

MAX_COMPARED = 200


@dataclass(frozen=True)
class MetricSideBySide:
    """One metric key across the compared runs (None where a run never logged it)."""

    key: str
    last: tuple[float | None, ...]
    min: tuple[float | None, ...]
    max: tuple[float | None, ...]
    last_step: tuple[int | None, ...]


@dataclass(frozen=True)
class RunIdentity:
    """What a run was made of, beyond its parameters."""

    run_id: str
    code: CodeVersion | None
    environment: Environment | None
    datasets: tuple[DatasetRecord, ...]


@dataclass(frozen=True)
class RunComparison:
    run_ids: tuple[str, ...]  # the order of every per-run tuple below
    runs: tuple[RunSummary, ...]
    params_differing: tuple[KeyValues, ...]
    params_common: tuple[tuple[str, str], ...]
    metrics: tuple[MetricSideBySide, ...]
    tags: tuple[dict[str, str], ...]
    identities: tuple[RunIdentity, ...]
    hidden: int = 0  # requested runs left out (missing or not visible), with ``partial=True``

    @property
    def same_code(self) -> bool:
        """Every run has the same commit and the same uncommitted patch."""
        codes = {(i.code.commit, i.code.diff_sha256) if i.code else None for i in self.identities}
        return len(codes) == 1 and None not in codes

    @property
    def environment_recorded(self) -> int:
        """How many of the runs recorded an environment."""
        return sum(1 for i in self.identities if i.environment is not None)

    @property
    def same_environment(self) -> bool:
        envs = {i.environment.packages_digest if i.environment else None for i in self.identities}
        return len(envs) == 1 and None not in envs

    @property
    def same_datasets(self) -> bool:
        sets = {frozenset((d.role, d.name, d.digest) for d in i.datasets) for i in self.identities}
        return len(sets) == 1


def _side_by_side(
    run_ids: Sequence[str], metrics: dict[str, dict[str, MetricSummary]]
) -> tuple[MetricSideBySide, ...]:
    keys = sorted({key for per_run in metrics.values() for key in per_run})
    rows = []
    for key in keys:
        found = [metrics.get(run_id, {}).get(key) for run_id in run_ids]
        rows.append(
            MetricSideBySide(
                key,
                tuple(m.last if m else None for m in found),
                tuple(m.min if m else None for m in found),
                tuple(m.max if m else None for m in found),
                tuple(m.last_step if m else None for m in found),
            )
        )
    return tuple(rows)


def checked_run_ids(run_ids: Sequence[str], doing: str = "compared") -> list[str]:
    """``run_ids`` without repeats, in order: a non-empty list of at most :data:`MAX_COMPARED`
    (ValidationError on ``run_ids`` otherwise; ``doing`` words the limit's message). The one
    check of every read of several runs at once (compare, diff matrix, live progress)."""
    if isinstance(run_ids, str) or not run_ids:
        raise ValidationError("run_ids must be a non-empty list", field="run_ids", rule="empty")
    ids = list(dict.fromkeys(run_ids))
    if len(ids) > MAX_COMPARED:
        raise ValidationError(
            f"at most {MAX_COMPARED} runs can be {doing}", field="run_ids", rule="max"
        )
    return ids


def compare_runs(
    client: Client,
    caller: Caller,
    run_ids: Sequence[str],
    *,
    database: str | None = None,
    parallel: bool = True,
    partial: bool = False,
) -> RunComparison:
    """Compare runs; raises NotFoundError if any run is missing or not visible to ``caller``,
    or, with ``partial``, compares the visible ones (NotFoundError only if none is)."""
    ids = checked_run_ids(run_ids)
    # The shares are read inside the gate's statement (no round trip of their own); the other
    # queries only read ids that the gate then has to let through.
    vis = Visibility.deferred(caller, str(database or client.database or "default"))
    fetchers: dict[str, Any] = {
        "runs": _records.visible_or_none if partial else _records.require_visible,
        "params": _records.params,
        "tags": _records.tags,
        "metrics": _records.metric_summaries,
        "code": _records.code_versions,
        "environments": _records.environments,
        "datasets": _records.datasets,
    }
    if parallel:
        # The details are read beside the visibility gate to save a round trip; the gate's
        # answer (NotFoundError if any run is hidden) comes first, so nothing it refuses is
        # ever returned.
        with ThreadPoolExecutor(max_workers=len(fetchers)) as pool:
            futures = {name: pool.submit(f, client, vis, ids) for name, f in fetchers.items()}
            summaries = futures.pop("runs").result()
            found = {name: future.result() for name, future in futures.items()}
    else:
        summaries = fetchers["runs"](client, vis, ids)
        found = {name: f(client, vis, ids) for name, f in fetchers.items() if name != "runs"}
    requested = len(ids)
    ids = [run_id for run_id in ids if run_id in summaries]  # all of them unless ``partial``
    differing, common = split_common([found["params"].get(run_id, {}) for run_id in ids])
    return RunComparison(
        run_ids=tuple(ids),
        runs=tuple(summaries[run_id] for run_id in ids),
        params_differing=differing,
        params_common=common,
        metrics=_side_by_side(ids, found["metrics"]),
        tags=tuple(found["tags"].get(run_id, {}) for run_id in ids),
        identities=tuple(
            RunIdentity(
                run_id,
                found["code"].get(run_id),
                found["environments"].get(run_id),
                found["datasets"].get(run_id, ()),
            )
            for run_id in ids
        ),
        hidden=requested - len(ids),
    )
