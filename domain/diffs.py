"""Differences between runs: parameters, packages, datasets and code (pure functions).

The query layer fetches what two or more runs recorded; these functions decide what changed.
They work on plain mappings and strings so the rules are unit-tested without a database.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Change:
    key: str
    before: str
    after: str


@dataclass(frozen=True)
class MappingDiff:
    """What changed from mapping ``a`` to mapping ``b`` (keys sorted)."""

    added: tuple[tuple[str, str], ...]  # only in b: (key, value)
    removed: tuple[tuple[str, str], ...]  # only in a: (key, value)
    changed: tuple[Change, ...]
    unchanged: int

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def diff_mappings(a: Mapping[str, str], b: Mapping[str, str]) -> MappingDiff:
    return MappingDiff(
        added=tuple((k, b[k]) for k in sorted(b.keys() - a.keys())),
        removed=tuple((k, a[k]) for k in sorted(a.keys() - b.keys())),
        changed=tuple(Change(k, a[k], b[k]) for k in sorted(a.keys() & b.keys()) if a[k] != b[k]),
        unchanged=sum(1 for k in a.keys() & b.keys() if a[k] == b[k]),
    )


@dataclass(frozen=True)
class KeyValues:
    """One key's value in each of several runs (None where a run lacks it)."""

    key: str
    values: tuple[str | None, ...]


def split_common(
    per_run: Sequence[Mapping[str, str]],
) -> tuple[tuple[KeyValues, ...], tuple[tuple[str, str], ...]]:
    """(keys whose values differ between runs, (key, value) pairs every run shares).

    A key some run lacks differs (its value there is None). Both are sorted by key.
    """
    keys = sorted({key for values in per_run for key in values})
    differing: list[KeyValues] = []
    common: list[tuple[str, str]] = []
    for key in keys:
        values = tuple(run.get(key) for run in per_run)
        first = values[0]
        if first is not None and all(value == first for value in values):
            common.append((key, first))
        else:
            differing.append(KeyValues(key, values))
    return tuple(differing), tuple(common)


def unified_diff(a: str, b: str, label_a: str, label_b: str, *, context: int = 3) -> str:
    """A unified diff of two texts ('' when they are equal)."""
    lines = difflib.unified_diff(
        a.splitlines(keepends=True),
        b.splitlines(keepends=True),
        fromfile=label_a,
        tofile=label_b,
        n=context,
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


_HOSTED_REMOTE = re.compile(
    r"^(?:https://|git@|ssh://git@)(?P<host>github\.com|gitlab\.com|bitbucket\.org)[:/]"
    r"(?P<path>[A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-/]+?)(?:\.git)?/?$"
)


def compare_url(remote: str, commit_a: str, commit_b: str) -> str | None:
    """A web link comparing two commits, for remotes on well-known hosts (else None).

    Cairn records commits and each run's uncommitted patch, not the repository, so the
    committed part of a code difference is best read on the forge.
    """
    m = _HOSTED_REMOTE.match(remote.strip())
    if not m or not commit_a or not commit_b or commit_a == commit_b:
        return None
    host, path = m.group("host"), m.group("path")
    if host == "gitlab.com":
        return f"https://gitlab.com/{path}/-/compare/{commit_a}...{commit_b}"
    if host == "bitbucket.org":
        return f"https://bitbucket.org/{path}/branches/compare/{commit_b}..{commit_a}"
    return f"https://github.com/{path}/compare/{commit_a}...{commit_b}"


@dataclass(frozen=True)
class DatasetRecord:
    role: str  # input / output / ...
    name: str
    digest: str
    manifest_digest: str = ""
    uri: str = ""
    size_bytes: int = 0
    file_count: int = 0

    @property
    def slot(self) -> tuple[str, str]:
        return (self.role, self.name)


@dataclass(frozen=True)
class DatasetChange:
    role: str
    name: str
    before: DatasetRecord
    after: DatasetRecord

    @property
    def manifest_changed(self) -> bool:
        return self.before.manifest_digest != self.after.manifest_digest


@dataclass(frozen=True)
class DatasetDiff:
    added: tuple[DatasetRecord, ...]  # used by b only
    removed: tuple[DatasetRecord, ...]  # used by a only
    changed: tuple[DatasetChange, ...]  # same role and name, different content digest
    unchanged: tuple[DatasetRecord, ...]

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def diff_dataset_records(a: Sequence[DatasetRecord], b: Sequence[DatasetRecord]) -> DatasetDiff:
    """Datasets are matched by (role, name); a changed digest means the content changed.

    A run that recorded several versions under one name is compared by its set of digests:
    every version only one side has counts as added or removed.
    """
    by_slot_a: dict[tuple[str, str], list[DatasetRecord]] = {}
    by_slot_b: dict[tuple[str, str], list[DatasetRecord]] = {}
    for record in a:
        by_slot_a.setdefault(record.slot, []).append(record)
    for record in b:
        by_slot_b.setdefault(record.slot, []).append(record)
    added: list[DatasetRecord] = []
    removed: list[DatasetRecord] = []
    changed: list[DatasetChange] = []
    unchanged: list[DatasetRecord] = []
    for slot in sorted(by_slot_a.keys() | by_slot_b.keys()):
        left = {r.digest: r for r in by_slot_a.get(slot, [])}
        right = {r.digest: r for r in by_slot_b.get(slot, [])}
        unchanged += [left[d] for d in sorted(left.keys() & right.keys())]
        only_left = [left[d] for d in sorted(left.keys() - right.keys())]
        only_right = [right[d] for d in sorted(right.keys() - left.keys())]
        if len(only_left) == 1 and len(only_right) == 1:
            changed.append(DatasetChange(slot[0], slot[1], only_left[0], only_right[0]))
        else:
            removed += only_left
            added += only_right
    return DatasetDiff(tuple(added), tuple(removed), tuple(changed), tuple(unchanged))
