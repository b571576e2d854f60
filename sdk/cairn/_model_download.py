"""A verified local copy of a model version's artifact (:func:`download`), for ``use_model`` and
``cairn models download``: every byte is checked against the sha256 the registry recorded, and
the copy is put in place atomically, named by its digest, so processes share one cache."""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn.errors import ValidationError

if TYPE_CHECKING:
    from cairn._registry import ModelVersion


def _store_root(uri: str, sha256: str) -> str:
    for suffix in (
        f"/blobs/sha256/{sha256[:2]}/{sha256}",
        f"/trees/sha256/{sha256[:2]}/{sha256}.json",
    ):
        if uri.endswith(suffix):
            return uri[: -len(suffix)]
    raise ValidationError(f"uri: {uri!r} is not in a Cairn artifact store", field="uri")


def _copy_verified(source: Any, target: Path, sha256: str, what: str) -> None:
    digest = hashlib.sha256()
    target.parent.mkdir(parents=True, exist_ok=True)
    with source, target.open("wb") as out:
        for chunk in iter(lambda: source.read(1 << 20), b""):
            digest.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != sha256:
        target.unlink(missing_ok=True)
        raise ValidationError(
            f"sha256: {what} has sha256 {digest.hexdigest()}, the registry recorded {sha256}; "
            "the artifact store's copy is corrupt",
            field="sha256",
            rule="digest_mismatch",
        )


def download(version: ModelVersion, cache: Path) -> Path:
    """Copy ``version``'s artifact into ``cache`` (once: the copy is named by its digest) and
    verify every byte against the recorded sha256. Returns the file or directory."""
    from cairn._hashing import manifest_sha256, parse_manifest
    from cairn.artifacts import open_artifact, open_store

    name = version.artifact_name or version.name
    final_dir = cache / version.sha256
    final = final_dir / name
    if final.exists():
        return final
    staging = cache / f".{uuid.uuid4().hex}"
    try:
        if "/trees/sha256/" in version.uri:
            with open_artifact(version.uri) as stream:
                entries = parse_manifest(stream.read())
            if manifest_sha256(entries) != version.sha256:
                raise ValidationError(
                    f"sha256: the manifest of {version.name}:{version.version} does not match",
                    field="sha256",
                    rule="digest_mismatch",
                )
            store = open_store(_store_root(version.uri, version.sha256))
            for entry in entries:
                _copy_verified(
                    store.open_blob(entry.sha256),
                    staging / name / entry.path,
                    entry.sha256,
                    entry.path,
                )
        else:
            _copy_verified(open_artifact(version.uri), staging / name, version.sha256, name)
        final_dir.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(staging, final_dir)
        except OSError:  # another process put the same verified copy there first
            if not final.exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final
