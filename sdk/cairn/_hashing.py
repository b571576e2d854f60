"""Content digests of files, directories and DataFrames: the same data, the same digest, anywhere.

- A file: the SHA-256 of its bytes.
- A directory: a *manifest*, one entry per regular file below it (symlinks to files are
  followed, symlinked directories are not, so cycles cannot happen), each entry being the file's
  path relative to the directory in POSIX form, its size and its SHA-256, sorted by path. The
  manifest's digest is the SHA-256 of its canonical JSON text
  ``[["a/b.csv",12,"<hex>"],...]`` (no spaces, UTF-8, not ASCII-escaped). Paths are relative, so
  the same tree gives the same digest wherever it is mounted; modification times and
  permissions are not content and are left out.
- A pandas DataFrame: the SHA-256 of its column names (canonical JSON) followed by pandas' own
  row hashes (``pandas.util.hash_pandas_object``, index included, little-endian uint64). pandas
  hashes with a fixed key, so the digest is the same on every machine for the same pandas
  hashing rules.

The manifest's format and the store's layout are contract (``cairn_contract.artifact_layout``,
read by the portal too); this module computes the digests.

Digests are written ``sha256:<hex>`` where the contract wants an algorithm prefix.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from cairn_contract.artifact_layout import (
    ManifestEntry as ManifestEntry,
)
from cairn_contract.artifact_layout import (
    manifest_sha256 as manifest_sha256,
)
from cairn_contract.artifact_layout import (
    manifest_text as manifest_text,
)
from cairn_contract.artifact_layout import (
    parse_manifest as parse_manifest,
)

CHUNK = 1 << 20


def hash_stream(stream: BinaryIO, copy_to: BinaryIO | None = None) -> tuple[str, int]:
    """SHA-256 hex and size of a stream, optionally copying it on the way (one read pass)."""
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
        if copy_to is not None:
            copy_to.write(chunk)
    return digest.hexdigest(), size


def hash_file(path: Path) -> tuple[str, int]:
    with path.open("rb") as stream:
        return hash_stream(stream)


def walk_files(root: Path) -> Iterator[tuple[str, Path]]:
    """(relative POSIX path, absolute path) of every regular file under ``root``, sorted."""
    found: list[tuple[str, Path]] = []
    for directory, subdirectories, files in os.walk(root, followlinks=False):
        subdirectories.sort()
        base = Path(directory)
        for name in files:
            path = base / name
            if path.is_file():  # follows a symlink to a file; skips broken links, sockets
                found.append((path.relative_to(root).as_posix(), path))
    found.sort(key=lambda item: item[0])
    return iter(found)


def manifest(root: Path) -> list[ManifestEntry]:
    entries = []
    for relative, path in walk_files(root):
        sha, size = hash_file(path)
        entries.append(ManifestEntry(relative, size, sha))
    return entries


def is_dataframe(value: object) -> bool:
    """A pandas DataFrame, recognised without importing pandas."""
    kind = type(value)
    return kind.__name__ == "DataFrame" and kind.__module__.startswith("pandas")


def dataframe_digest(frame: Any) -> tuple[str, int]:
    """SHA-256 hex of a DataFrame's content, and its in-memory size in bytes."""
    from pandas.util import hash_pandas_object

    digest = hashlib.sha256()
    columns = [str(c) for c in frame.columns]
    digest.update(json.dumps(columns, separators=(",", ":"), ensure_ascii=False).encode())
    row_hashes = hash_pandas_object(frame, index=True).to_numpy()
    digest.update(row_hashes.astype("<u8").tobytes())
    size = int(frame.memory_usage(index=True, deep=True).sum())
    return digest.hexdigest(), size
