"""What ``run.use_dataset`` records: a name, where the data is, and a digest of its version.

Sources and their digests (all ``sha256:<hex>``; see ``cairn._hashing`` for the algorithms):

- a local file: its content hash; the manifest digest is of the one-entry manifest;
- a local directory: its manifest digest, which is also the content digest;
- a pandas DataFrame: its content hash; no URI, no manifest;
- a URI (``s3://``, ``gs://``, ``hf://`` ...): Cairn cannot read it, so the version must be known:
  given as ``version=``, or carried by the URI (``?versionId=``, ``?version=``, ``?generation=``,
  ``?revision=`` or ``@<rev>`` at the end of the path). The digest then identifies *that version
  of that URI* (the hash of ``"<uri>\\n<version>"``), not its bytes.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from cairn._checks import MAX_NAME_CHARS, check_name, check_uri, fail
from cairn._hashing import (
    ManifestEntry,
    dataframe_digest,
    hash_file,
    is_dataframe,
    manifest,
    manifest_sha256,
)
from cairn.errors import NotFoundError

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
_VERSION_PARAMETERS = ("versionId", "version", "generation", "revision", "rev")


@dataclass(frozen=True, slots=True)
class Dataset:
    """A dataset version as recorded on the run."""

    name: str
    digest: str
    uri: str = ""
    size_bytes: int = 0
    file_count: int = 0
    manifest_digest: str = ""
    version: str = ""


def _sha(hex_digest: str) -> str:
    return f"sha256:{hex_digest}"


def describe(source: object, *, name: str | None = None, version: str | None = None) -> Dataset:
    """Hash ``source`` (file, directory, DataFrame or versioned URI) into a :class:`Dataset`."""
    if version is not None:
        check_name(version, "version")
    if name is not None:
        check_name(name, "name")
    if is_dataframe(source):
        digest, size = dataframe_digest(source)
        return Dataset(name or "dataframe", _sha(digest), size_bytes=size, version=version or "")
    if isinstance(source, str) and _SCHEME.match(source) and not source.startswith("file://"):
        return _remote(source, name, version)
    if isinstance(source, str) and source.startswith("file://"):
        source = unquote(urlparse(source).path)
    if not isinstance(source, str | os.PathLike):
        fail(
            "source",
            "dataset_source",
            f"must be a path, a URI or a pandas DataFrame, got {type(source).__name__}",
        )
    path = Path(source).expanduser().resolve()
    label = name or path.name or str(path)
    label = label[-MAX_NAME_CHARS:]
    if path.is_file():
        sha, size = hash_file(path)
        entries = [ManifestEntry(path.name, size, sha)]
        return Dataset(
            label, _sha(sha), path.as_uri(), size, 1, _sha(manifest_sha256(entries)), version or ""
        )
    if path.is_dir():
        entries = manifest(path)
        digest = _sha(manifest_sha256(entries))
        size = sum(e.size for e in entries)
        return Dataset(label, digest, path.as_uri(), size, len(entries), digest, version or "")
    raise NotFoundError(
        f"source: {str(path)!r} does not exist (rule exists)", field="source", rule="exists"
    )


def _remote(uri: str, name: str | None, version: str | None) -> Dataset:
    check_uri(uri, "source")
    parsed = urlparse(uri)
    embedded = next(
        (values[0] for key, values in parse_qs(parsed.query).items() if key in _VERSION_PARAMETERS),
        None,
    )
    if embedded is None and "@" in parsed.path.rsplit("/", 1)[-1]:
        embedded = parsed.path.rsplit("@", 1)[1]
    if version is None and not embedded:
        fail(
            "version",
            "dataset_version",
            f"Cairn cannot read {uri[:80]!r} to hash it, so its version must be known: pass "
            "version=, or use a URI that names one (?versionId=..., @<revision>)",
        )
    label = name or parsed.path.rstrip("/").rsplit("/", 1)[-1].split("@")[0] or parsed.netloc
    identity = f"{uri}\n{version or ''}".encode()
    return Dataset(
        label[-MAX_NAME_CHARS:],
        _sha(hashlib.sha256(identity).hexdigest()),
        uri,
        version=version or embedded or "",
    )
