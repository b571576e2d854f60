"""Differences between two runs' code, environment and datasets.

Each function fetches what both runs recorded (both must be visible to the caller, else
NotFoundError) and lets :mod:`domain.diffs` decide what changed. Cairn records a commit and the
uncommitted patch against it, not the repository: when the commits are equal the code diff is
exact (a diff of the two patches); when they differ, the result says so and links the commits on
the forge where the remote is a well-known host.
"""

from __future__ import annotations

from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from domain.diffs import (
    Change,
    DatasetDiff,
    MappingDiff,
    compare_url,
    diff_dataset_records,
    diff_mappings,
    unified_diff,
)
from query import _records
from query._records import CodeVersion, Environment
from query.access import Caller, Visibility


@dataclass(frozen=True)
class CodeDiff:
    run_a: str
    run_b: str
    code_a: CodeVersion | None  # None: the run recorded no code version
    code_b: CodeVersion | None
    same_commit: bool
    same_patch: bool  # equal uncommitted patches (both clean counts as equal)
    patch_diff: str  # unified diff from a's patch to b's ('' when equal)
    compare_url: str | None  # forge link for the committed difference, when commits differ

    @property
    def identical(self) -> bool:
        return self.code_a is not None and self.same_commit and self.same_patch


@dataclass(frozen=True)
class EnvironmentDiff:
    run_a: str
    run_b: str
    environment_a: Environment | None
    environment_b: Environment | None
    fields: tuple[Change, ...]  # python_version, os, cuda_version, container_digest, ...
    packages: MappingDiff  # name -> version: added, removed, changed (version bumps)

    @property
    def identical(self) -> bool:
        return not self.fields and self.packages.empty


@dataclass(frozen=True)
class DatasetsDiff:
    run_a: str
    run_b: str
    datasets: DatasetDiff


def _pair(
    client: Client, caller: Caller, run_a: str, run_b: str, database: str | None
) -> Visibility:
    vis = Visibility.load(client, caller, database)
    _records.require_visible(client, vis, [run_a, run_b] if run_a != run_b else [run_a])
    return vis


def diff_code(
    client: Client, caller: Caller, run_a: str, run_b: str, *, database: str | None = None
) -> CodeDiff:
    vis = _pair(client, caller, run_a, run_b, database)
    codes = _records.code_versions(client, vis, [run_a, run_b])
    a, b = codes.get(run_a), codes.get(run_b)
    patch_a = a.diff if a else ""
    patch_b = b.diff if b else ""
    same_commit = a is not None and b is not None and a.commit == b.commit
    return CodeDiff(
        run_a=run_a,
        run_b=run_b,
        code_a=a,
        code_b=b,
        same_commit=same_commit,
        same_patch=patch_a == patch_b,
        patch_diff=unified_diff(patch_a, patch_b, f"{run_a}.patch", f"{run_b}.patch"),
        compare_url=compare_url(a.git_remote, a.commit, b.commit) if a and b else None,
    )


COMPARED_FIELDS = (
    "python_version",
    "python_implementation",
    "os",
    "os_version",
    "cpu_model",
    "cpu_count",
    "memory_bytes",
    "gpus",
    "cuda_version",
    "cudnn_version",
    "container_image",
    "container_digest",
)


def diff_environment(
    client: Client, caller: Caller, run_a: str, run_b: str, *, database: str | None = None
) -> EnvironmentDiff:
    """Packages added, removed and changed (by version) from ``run_a`` to ``run_b``, and the
    environment fields that differ (hostname is left out: it differs between any two hosts
    without changing what ran)."""
    vis = _pair(client, caller, run_a, run_b, database)
    envs = _records.environments(client, vis, [run_a, run_b])
    a, b = envs.get(run_a), envs.get(run_b)
    fields: list[Change] = []
    for name in COMPARED_FIELDS:
        before = str(getattr(a, name)) if a else ""
        after = str(getattr(b, name)) if b else ""
        if before != after:
            fields.append(Change(name, before, after))
    packages = diff_mappings(a.packages if a else {}, b.packages if b else {})
    return EnvironmentDiff(run_a, run_b, a, b, tuple(fields), packages)


def diff_datasets(
    client: Client, caller: Caller, run_a: str, run_b: str, *, database: str | None = None
) -> DatasetsDiff:
    """Which inputs and outputs changed: matched by role and name, compared by content digest
    (and manifest digest)."""
    vis = _pair(client, caller, run_a, run_b, database)
    found = _records.datasets(client, vis, [run_a, run_b])
    diff = diff_dataset_records(found.get(run_a, ()), found.get(run_b, ()))
    return DatasetsDiff(run_a, run_b, diff)
