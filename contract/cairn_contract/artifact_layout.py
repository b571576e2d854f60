"""The content-addressed artifact store's layout: where a blob or a directory manifest lives.

Shared by the SDK (which writes the store, ``cairn.artifacts``) and the portal (which reads it
for downloads, ``ui/downloads.py``). Under the store's root, identical for every backend::

    blobs/sha256/<first 2 hex>/<sha256>         one file's bytes, stored once however often logged
    trees/sha256/<first 2 hex>/<sha256>.json    a directory's manifest

A manifest has one entry per file: its path relative to the directory in POSIX form, its size and
its SHA-256, sorted by path; its canonical text is the JSON ``[["a/b.csv",12,"<hex>"],...]`` (no
spaces, UTF-8, not ASCII-escaped) and a directory artifact's ``sha256`` is that text's digest.
A location is a directory path, a ``file://`` URL or any fsspec URL (``s3://``, ``gs://``, ...);
remote ones need ``fsspec`` and the backend's package installed (they are nobody's dependency).
:func:`open_artifact` is the one way either side opens a recorded artifact URI for reading.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote, urlparse

from cairn_contract.errors import ConfigError, NotFoundError


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    path: str  # relative, POSIX separators
    size: int
    sha256: str


def blob_key(sha256: str) -> str:
    """Where one file's bytes live, relative to the store's root."""
    return f"blobs/sha256/{sha256[:2]}/{sha256}"


def tree_key(sha256: str) -> str:
    """Where a directory's manifest lives, relative to the store's root."""
    return f"trees/sha256/{sha256[:2]}/{sha256}.json"


def manifest_text(entries: list[ManifestEntry]) -> bytes:
    rows = [[e.path, e.size, e.sha256] for e in sorted(entries, key=lambda e: e.path)]
    return json.dumps(rows, separators=(",", ":"), ensure_ascii=False).encode()


def manifest_sha256(entries: list[ManifestEntry]) -> str:
    return hashlib.sha256(manifest_text(entries)).hexdigest()


def parse_manifest(text: bytes) -> list[ManifestEntry]:
    return [ManifestEntry(str(p), int(s), str(h)) for p, s, h in json.loads(text)]


def is_local(location: str) -> bool:
    """A directory path or ``file://`` URL (anything else is an fsspec URL)."""
    return "://" not in location or location.startswith("file://")


def local_path(location: str) -> Path:
    """The filesystem path of a local location (see :func:`is_local`)."""
    if location.startswith("file://"):
        return Path(unquote(urlparse(location).path))
    return Path(location)


def fsspec() -> Any:
    """The ``fsspec`` module, or a :class:`ConfigError` saying what to install."""
    try:
        return importlib.import_module("fsspec")
    except ImportError:
        raise ConfigError(
            "remote artifact stores need fsspec and the backend's package "
            "(pip install fsspec s3fs / gcsfs / adlfs)",
            field="artifact_store",
        ) from None


def open_artifact(uri: str) -> BinaryIO:
    """Open a recorded artifact URI (a blob, or a directory's manifest JSON) for reading."""
    if is_local(uri):
        try:
            return local_path(uri).open("rb")
        except FileNotFoundError:
            raise NotFoundError(f"no artifact at {uri}", field="uri") from None
    stream: BinaryIO = fsspec().open(uri, "rb").open()
    return stream
