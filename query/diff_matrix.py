"""Code, environment and data of many runs at once: runs x fields, each cell marked where it
differs from a baseline run.

:mod:`query.diffs` answers "what changed from run A to run B" in detail (the patch against the
patch, every package). This answers "which of these N runs differ, and in what" with one read:
the visibility gate and three detail queries (code versions, environments with their packages,
datasets), each over all the runs at once and sent side by side, so a 100-run matrix costs about
one round trip instead of N² pairwise diffs.

Columns are the fields that are not the same in every run; the fields every run shares are
listed apart (:attr:`DiffMatrix.same`), so a 100-run matrix stays as wide as the differences:

- ``code``: commit, branch, dirty, patch (the uncommitted patch's sha256), entry point;
- ``environment``: the fields :mod:`query.diffs` compares (python version, OS, CUDA, container
  ...; never the hostname, which differs between any two hosts without changing what ran);
- ``packages``: one column per package whose version is not the same everywhere;
- ``datasets``: one column per dataset slot (``role: name``), its content digest.

A value is ``''`` where a run recorded nothing (no code version, no environment, not that
package or dataset). A cell *differs* when it is not equal to the baseline run's cell; the
baseline is the first run unless one is chosen.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from cairn_contract.errors import ValidationError
from query import _records
from query.access import Caller, Visibility
from query.compare import RunIdentity, checked_run_ids
from query.diffs import COMPARED_FIELDS

KINDS = ("code", "environment", "packages", "datasets")
CODE_FIELDS = ("commit", "branch", "dirty", "patch", "entry_point")


@dataclass(frozen=True)
class MatrixColumn:
    kind: str  # one of KINDS
    name: str  # the field, package or dataset slot
    values: tuple[str, ...]  # one per run, in DiffMatrix.run_ids order ('' = not recorded)


@dataclass(frozen=True)
class DiffMatrix:
    run_ids: tuple[str, ...]  # the order of every per-run tuple
    baseline: str  # one of run_ids
    columns: tuple[MatrixColumn, ...]  # fields not the same in every run, by kind then name
    same: tuple[MatrixColumn, ...]  # fields the same in every run (one value repeated)
    recorded: dict[str, tuple[bool, ...]]  # code / environment / datasets: did each run record it
    hidden: int = 0  # requested runs left out: missing or not visible to the caller

    def differs(self, column: MatrixColumn) -> tuple[bool, ...]:
        """Per run: is its value not the baseline's? (The baseline's own cell never differs.)"""
        base = column.values[self.run_ids.index(self.baseline)]
        return tuple(value != base for value in column.values)

    def of_kind(self, *kinds: str) -> tuple[MatrixColumn, ...]:
        return tuple(c for c in self.columns if c.kind in kinds)

    def differing_runs(self, *kinds: str) -> int:
        """How many runs differ from the baseline in at least one field of ``kinds``."""
        flags = [self.differs(c) for c in self.of_kind(*kinds)]
        return sum(1 for i in range(len(self.run_ids)) if any(f[i] for f in flags))


def _code_row(identity: RunIdentity) -> dict[str, str]:
    code = identity.code
    if code is None:
        return {}
    return {
        "commit": code.commit,
        "branch": code.branch,
        "dirty": "yes" if code.dirty else "no",
        "patch": code.diff_sha256 if code.diff else "",
        "entry_point": code.entry_point,
    }


def _environment_row(identity: RunIdentity) -> dict[str, str]:
    env = identity.environment
    if env is None:
        return {}
    row = {}
    for name in COMPARED_FIELDS:
        value = getattr(env, name)
        row[name] = ", ".join(value) if isinstance(value, tuple) else str(value)
    return row


def _dataset_row(identity: RunIdentity) -> dict[str, str]:
    slots: dict[str, list[str]] = {}
    for record in identity.datasets:
        slots.setdefault(f"{record.role}: {record.name}", []).append(record.digest)
    return {slot: ", ".join(sorted(set(digests))) for slot, digests in slots.items()}


def build_matrix(
    identities: Sequence[RunIdentity], baseline: str | None = None, *, hidden: int = 0
) -> DiffMatrix:
    """The matrix of these runs' identities (pure: the rules, tested without a store)."""
    run_ids = tuple(i.run_id for i in identities)
    if not run_ids:
        raise ValidationError("no runs to compare", field="run_ids", rule="empty")
    if baseline is None:
        baseline = run_ids[0]
    elif baseline not in run_ids:
        raise ValidationError(
            "the baseline must be one of the compared runs", field="baseline", rule="compared"
        )
    rows = {
        "code": [_code_row(i) for i in identities],
        "environment": [_environment_row(i) for i in identities],
        "packages": [dict(i.environment.packages) if i.environment else {} for i in identities],
        "datasets": [_dataset_row(i) for i in identities],
    }
    fixed = {"code": CODE_FIELDS, "environment": COMPARED_FIELDS}
    columns: list[MatrixColumn] = []
    same: list[MatrixColumn] = []
    for kind in KINDS:
        names = fixed.get(kind) or sorted({name for row in rows[kind] for name in row})
        for name in names:
            column = MatrixColumn(kind, name, tuple(row.get(name, "") for row in rows[kind]))
            (same if len(set(column.values)) == 1 else columns).append(column)
    recorded = {
        "code": tuple(i.code is not None for i in identities),
        "environment": tuple(i.environment is not None for i in identities),
        "datasets": tuple(bool(i.datasets) for i in identities),
    }
    return DiffMatrix(run_ids, baseline, tuple(columns), tuple(same), recorded, hidden)


def diff_matrix(
    client: Client,
    caller: Caller,
    run_ids: Sequence[str],
    *,
    baseline: str | None = None,
    database: str | None = None,
) -> DiffMatrix:
    """The matrix of the runs among ``run_ids`` the caller may see (the others only counted in
    ``hidden``, a missing run and an invisible one alike); NotFoundError if none is visible,
    ValidationError if ``baseline`` is not one of the visible runs."""
    ids = checked_run_ids(run_ids)
    vis = Visibility.deferred(caller, str(database or client.database or "default"))
    with ThreadPoolExecutor(max_workers=4) as pool:
        # The details are read beside the gate (one round trip); only the ids the gate lets
        # through are ever looked up in them.
        gate = pool.submit(_records.visible_or_none, client, vis, ids)
        code = pool.submit(_records.code_versions, client, vis, ids)
        envs = pool.submit(_records.environments, client, vis, ids)
        data = pool.submit(_records.datasets, client, vis, ids)
        visible = gate.result()
        codes, environments, datasets = code.result(), envs.result(), data.result()
    shown = [run_id for run_id in ids if run_id in visible]
    identities = [
        RunIdentity(r, codes.get(r), environments.get(r), datasets.get(r, ())) for r in shown
    ]
    return build_matrix(identities, baseline, hidden=len(ids) - len(shown))
