"""Checking a run's input datasets against what their URIs hold now, and fetching the recorded
version from the artifact store by content address.

A local file or directory (``file://``) is hashed again exactly as ``run.use_dataset`` hashed it
(:mod:`cairn._hashing`). Anything else (``s3://``, a DataFrame) Cairn cannot read here, so it is
reported as not verifiable rather than refused: the reproduction run records its own digest of
what it read, and the report compares the two.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import unquote, urlparse

from cairn._datasets import describe
from cairn._hashing import ManifestEntry, manifest
from cairn.artifacts import ArtifactStore
from cairn.errors import CairnError
from cairn.reproduce._record import DatasetInput


class DataState(StrEnum):
    SAME = "same"  # the URI holds the recorded version
    CHANGED = "changed"  # it holds other content
    MISSING = "missing"  # nothing is there any more
    UNVERIFIABLE = "unverifiable"  # Cairn cannot read the URI (remote store, DataFrame)
    FETCHED = "fetched"  # the recorded version came from the artifact store


@dataclass(frozen=True, slots=True)
class DataCheck:
    name: str
    uri: str
    recorded_digest: str
    current_digest: str
    state: DataState
    differing_files: tuple[str, ...] = ()
    path: Path | None = None  # where the run should read it (a fetched copy or the original)
    note: str = ""

    @property
    def usable(self) -> bool:
        return self.state in (DataState.SAME, DataState.UNVERIFIABLE, DataState.FETCHED)

    def describe(self) -> str:
        what = f"{self.name} ({self.uri or 'no uri'})"
        if self.state is DataState.SAME:
            return f"{what}: digest {self.recorded_digest} unchanged"
        if self.state is DataState.FETCHED:
            return f"{what}: recorded version {self.recorded_digest} fetched to {self.path}"
        if self.state is DataState.UNVERIFIABLE:
            return f"{what}: not verifiable ({self.note})"
        if self.state is DataState.MISSING:
            return f"{what}: missing now (recorded digest {self.recorded_digest})"
        files = (
            f"; differing files: {', '.join(self.differing_files)}" if self.differing_files else ""
        )
        return (
            f"{what}: digest is now {self.current_digest}, recorded {self.recorded_digest}"
            f"{files}{'; ' + self.note if self.note else ''}"
        )


def local_path(uri: str) -> Path | None:
    if uri.startswith("file://"):
        return Path(unquote(urlparse(uri).path))
    return None


def _hex(digest: str) -> str:
    return digest.partition(":")[2] if digest.startswith("sha256:") else ""


def _recorded_manifest(
    dataset: DatasetInput, store: ArtifactStore | None
) -> list[ManifestEntry] | None:
    if store is None or not _hex(dataset.manifest_digest):
        return None
    try:
        return store.read_tree(_hex(dataset.manifest_digest))
    except CairnError:
        return None


def _differing(
    path: Path, dataset: DatasetInput, store: ArtifactStore | None
) -> tuple[tuple[str, ...], str]:
    if path.is_file():
        return (path.name,), ""
    recorded = _recorded_manifest(dataset, store)
    if recorded is None:
        return (), "the recorded manifest is not in the artifact store, so files cannot be named"
    now = {e.path: e.sha256 for e in manifest(path)}
    before = {e.path: e.sha256 for e in recorded}
    names = sorted(p for p in set(now) | set(before) if now.get(p) != before.get(p))
    return tuple(names), ""


def check_dataset(dataset: DatasetInput, store: ArtifactStore | None = None) -> DataCheck:
    """What ``dataset.uri`` holds now compared with the recorded digest."""
    path = local_path(dataset.uri)
    name, uri, recorded = dataset.name, dataset.uri, dataset.digest
    if path is None:
        note = (
            f"Cairn cannot read {dataset.uri}"
            if dataset.uri
            else "an in-memory DataFrame; the reproduction records its own digest"
        )
        return DataCheck(
            name, uri, recorded, current_digest="", state=DataState.UNVERIFIABLE, note=note
        )
    if not path.exists():
        return DataCheck(name, uri, recorded, current_digest="", state=DataState.MISSING)
    current = describe(path)
    if current.digest == dataset.digest and (
        not dataset.manifest_digest or current.manifest_digest == dataset.manifest_digest
    ):
        return DataCheck(
            name, uri, recorded, current_digest=current.digest, state=DataState.SAME, path=path
        )
    files, note = _differing(path, dataset, store)
    return DataCheck(
        name,
        uri,
        recorded,
        current_digest=current.digest,
        state=DataState.CHANGED,
        differing_files=files,
        note=note,
    )


def fetch_dataset(
    check: DataCheck, dataset: DatasetInput, store: ArtifactStore, into: Path
) -> DataCheck:
    """Materialise the recorded version under ``into`` from the content-addressed store: a file
    is the blob named by its digest, a directory the tree named by its manifest digest."""
    wanted = _hex(dataset.digest)
    recorded_path = local_path(dataset.uri)
    label = recorded_path.name if recorded_path and recorded_path.name else dataset.name
    target = into / label
    try:
        if (
            dataset.manifest_digest != dataset.digest
        ):  # a file: a directory's digest is its manifest's
            target.parent.mkdir(parents=True, exist_ok=True)
            with store.open_blob(wanted) as blob, target.open("wb") as out:
                shutil.copyfileobj(blob, out)
        else:
            entries = store.read_tree(wanted)
            for entry in entries:
                file = target / entry.path
                file.parent.mkdir(parents=True, exist_ok=True)
                with store.open_blob(entry.sha256) as blob, file.open("wb") as out:
                    shutil.copyfileobj(blob, out)
    except CairnError:
        return check  # not in the store: the caller refuses with the original reason
    return DataCheck(
        name=check.name,
        uri=check.uri,
        recorded_digest=check.recorded_digest,
        current_digest=describe(target).digest,
        state=DataState.FETCHED,
        path=target,
        note=f"from {store.url}",
    )
