"""The content-addressed artifact store, shared by the SDK (writes) and the portal (reads).

The layout under the store's root, identical for every backend, is contract
(``cairn_contract.artifact_layout``, read by the portal's downloads too)::

    blobs/sha256/<first 2 hex>/<sha256>         one file's bytes, stored once however often logged
    trees/sha256/<first 2 hex>/<sha256>.json    a directory's manifest

A directory artifact's ``sha256`` is its manifest's digest; each of its files is a blob. Because
names are content digests, writing is idempotent: two runs, or two processes at once, storing the
same file write the same bytes to the same name, and nothing is ever overwritten with different
content.

Backends: :class:`LocalStore` for a directory (the default, ``<CAIRN_DIR>/artifacts``), copying
and hashing in one pass and publishing with an atomic rename; :class:`FsspecStore` for any fsspec
URL (``s3://``, ``gs://``, ``abfs://`` ...), which needs ``fsspec`` and the backend's package
installed (they are not SDK dependencies). :func:`open_store` picks one from a location string,
:func:`open_artifact` opens a recorded artifact URI for reading.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from cairn._hashing import hash_file, hash_stream, walk_files
from cairn.errors import ConfigError, NotFoundError
from cairn_contract.artifact_layout import (
    ManifestEntry,
    blob_key,
    fsspec,
    is_local,
    local_path,
    manifest_sha256,
    manifest_text,
    parse_manifest,
    tree_key,
)
from cairn_contract.artifact_layout import open_artifact as open_artifact  # public here too


@dataclass(frozen=True, slots=True)
class StoredArtifact:
    sha256: str  # of the file, or of the directory's manifest
    size_bytes: int  # total of all files
    uri: str  # where the blob or the manifest lives
    file_count: int
    is_directory: bool


class ArtifactStore(Protocol):
    @property
    def url(self) -> str: ...

    def put_file(self, path: Path) -> StoredArtifact: ...

    def put_bytes(self, data: bytes) -> StoredArtifact:
        """Store ``data`` as one blob (logged media: images, figures, audio)."""
        ...

    def put_manifest(self, entries: list[ManifestEntry]) -> str:
        """Store a directory manifest; returns its URI."""
        ...

    def open_blob(self, sha256: str) -> BinaryIO: ...

    def read_tree(self, sha256: str) -> list[ManifestEntry]: ...


def store_path(store: ArtifactStore, path: Path) -> StoredArtifact:
    """Store a file or a whole directory."""
    if path.is_file():
        return store.put_file(path)
    if not path.is_dir():
        raise NotFoundError(f"path: {str(path)!r} is neither a file nor a directory", field="path")
    entries = []
    for relative, file in walk_files(path):
        stored = store.put_file(file)
        entries.append(ManifestEntry(relative, stored.size_bytes, stored.sha256))
    uri = store.put_manifest(entries)
    total = sum(e.size for e in entries)
    return StoredArtifact(manifest_sha256(entries), total, uri, len(entries), is_directory=True)


class LocalStore:
    def __init__(self, root: Path) -> None:
        self.root = root.expanduser().resolve()

    @property
    def url(self) -> str:
        return self.root.as_uri()

    def put_file(self, path: Path) -> StoredArtifact:
        temporary = self.root / "tmp" / uuid.uuid4().hex
        temporary.parent.mkdir(parents=True, exist_ok=True)
        try:
            with path.open("rb") as source, temporary.open("wb") as target:
                sha256, size = hash_stream(source, copy_to=target)
            final = self.root / blob_key(sha256)
            if final.exists():
                temporary.unlink()
            else:
                final.parent.mkdir(parents=True, exist_ok=True)
                os.chmod(temporary, 0o444)  # content-addressed: never to be modified in place
                os.replace(temporary, final)
        finally:
            temporary.unlink(missing_ok=True)
        return StoredArtifact(sha256, size, final.as_uri(), 1, is_directory=False)

    def put_bytes(self, data: bytes) -> StoredArtifact:
        sha256 = hashlib.sha256(data).hexdigest()
        final = self.root / blob_key(sha256)
        if not final.exists():
            final.parent.mkdir(parents=True, exist_ok=True)
            temporary = final.with_name(f".{uuid.uuid4().hex}.tmp")
            try:
                temporary.write_bytes(data)
                os.chmod(temporary, 0o444)
                os.replace(temporary, final)
            finally:
                temporary.unlink(missing_ok=True)
        return StoredArtifact(sha256, len(data), final.as_uri(), 1, is_directory=False)

    def put_manifest(self, entries: list[ManifestEntry]) -> str:
        final = self.root / tree_key(manifest_sha256(entries))
        if not final.exists():
            final.parent.mkdir(parents=True, exist_ok=True)
            temporary = final.with_name(f".{uuid.uuid4().hex}.tmp")
            temporary.write_bytes(manifest_text(entries))
            os.replace(temporary, final)
        return final.as_uri()

    def open_blob(self, sha256: str) -> BinaryIO:
        try:
            return (self.root / blob_key(sha256)).open("rb")
        except FileNotFoundError:
            raise NotFoundError(f"no artifact {sha256} in {self.url}", field="sha256") from None

    def read_tree(self, sha256: str) -> list[ManifestEntry]:
        try:
            return parse_manifest((self.root / tree_key(sha256)).read_bytes())
        except FileNotFoundError:
            raise NotFoundError(
                f"no directory artifact {sha256} in {self.url}", field="sha256"
            ) from None


class FsspecStore:
    """A store on any fsspec filesystem. ``fs`` needs ``exists``, ``makedirs``, ``put_file``,
    ``pipe_file``, ``open`` and ``cat_file``, and ``unstrip_protocol`` for URIs."""

    def __init__(self, fs: Any, root: str) -> None:
        self.fs = fs
        self.root = root.rstrip("/")

    @property
    def url(self) -> str:
        return str(self.fs.unstrip_protocol(self.root))

    def _key(self, key: str) -> str:
        return f"{self.root}/{key}"

    def put_file(self, path: Path) -> StoredArtifact:
        sha256, size = hash_file(path)
        target = self._key(blob_key(sha256))
        if not self.fs.exists(target):
            self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
            self.fs.put_file(str(path), target)
        return StoredArtifact(
            sha256, size, str(self.fs.unstrip_protocol(target)), 1, is_directory=False
        )

    def put_bytes(self, data: bytes) -> StoredArtifact:
        sha256 = hashlib.sha256(data).hexdigest()
        target = self._key(blob_key(sha256))
        if not self.fs.exists(target):
            self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
            self.fs.pipe_file(target, data)
        uri = str(self.fs.unstrip_protocol(target))
        return StoredArtifact(sha256, len(data), uri, 1, is_directory=False)

    def put_manifest(self, entries: list[ManifestEntry]) -> str:
        target = self._key(tree_key(manifest_sha256(entries)))
        if not self.fs.exists(target):
            self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
            self.fs.pipe_file(target, manifest_text(entries))
        return str(self.fs.unstrip_protocol(target))

    def open_blob(self, sha256: str) -> BinaryIO:
        target = self._key(blob_key(sha256))
        if not self.fs.exists(target):
            raise NotFoundError(f"no artifact {sha256} in {self.url}", field="sha256")
        stream: BinaryIO = self.fs.open(target, "rb")
        return stream

    def read_tree(self, sha256: str) -> list[ManifestEntry]:
        target = self._key(tree_key(sha256))
        if not self.fs.exists(target):
            raise NotFoundError(f"no directory artifact {sha256} in {self.url}", field="sha256")
        return parse_manifest(self.fs.cat_file(target))


def open_store(location: str) -> ArtifactStore:
    """The store at ``location``: a directory path, ``file://`` URL or any fsspec URL."""
    if is_local(location):
        return LocalStore(local_path(location))
    try:
        fs, root = fsspec().core.url_to_fs(location)
    except ImportError as exc:  # fsspec is there, the URL's backend package is not
        raise ConfigError(
            f"artifact store {location!r}: {exc} (the fsspec backend for this URL is missing)",
            field="artifact_store",
        ) from None
    return FsspecStore(fs, root)
