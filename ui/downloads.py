"""Artifact bytes for download buttons, from the recorded URI or the content-addressed store.

The portal only reads the store the SDK writes; where a blob lives is the contract's
(``cairn_contract.artifact_layout``). Remote locations (``s3://`` ...) need ``fsspec`` and the
backend's package installed beside the portal, as for the SDK.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from typing import BinaryIO

from cairn_contract.artifact_layout import (
    blob_key,
    is_local,
    local_path,
    manifest_sha256,
    open_artifact,
    parse_manifest,
    tree_key,
)
from cairn_contract.errors import CairnError

MAX_DOWNLOAD_BYTES = 200 << 20  # the browser download goes through the portal's memory


class DownloadError(CairnError):
    """The artifact cannot be offered for download; the message says why."""


def open_blob(store_location: str, sha256: str) -> BinaryIO:
    """Open the blob ``sha256`` in the content-addressed store at ``store_location``."""
    if is_local(store_location):
        return open_artifact(str(local_path(store_location) / blob_key(sha256)))
    return open_artifact(f"{store_location.rstrip('/')}/{blob_key(sha256)}")


def artifact_bytes(uri: str, sha256: str, store_location: str, size_bytes: int) -> bytes:
    """The artifact's content: from ``uri`` when it is readable here, else by digest from the
    portal's artifact store (``CAIRN_ARTIFACT_STORE``)."""
    if size_bytes > MAX_DOWNLOAD_BYTES:
        raise DownloadError(
            f"{size_bytes / 2**20:.0f} MiB is too large to download through the portal; "
            f"fetch {uri} directly"
        )
    errors = []
    try:
        with open_artifact(uri) as stream:
            return stream.read(MAX_DOWNLOAD_BYTES + 1)
    except (CairnError, OSError, ValueError) as exc:
        errors.append(str(exc))
    if store_location and sha256:
        try:
            with open_blob(store_location, sha256) as stream:
                return stream.read(MAX_DOWNLOAD_BYTES + 1)
        except (CairnError, OSError, ValueError) as exc:
            errors.append(str(exc))
    raise DownloadError("the artifact is not readable from the portal: " + "; ".join(errors))


def _verified(content: bytes, sha256: str, what: str) -> bytes:
    if hashlib.sha256(content).hexdigest() != sha256:
        raise DownloadError(
            f"{what} does not match the sha256 the registry recorded ({sha256[:12]}…): "
            "the stored copy is corrupt, so it is not offered"
        )
    return content


def _tree_store(uri: str, sha256: str, store_location: str) -> str:
    """The store a directory's manifest ``uri`` lives in (else the portal's own store)."""
    suffix = "/" + tree_key(sha256)
    return uri[: -len(suffix)] if uri.endswith(suffix) else store_location


def model_download(
    uri: str, sha256: str, artifact_name: str, store_location: str
) -> tuple[bytes, str, str]:
    """A model version's artifact for a download button as (bytes, file name, MIME type), every
    byte checked against the recorded sha256: a file as itself, a directory (its manifest's URI)
    as a zip of its files under ``artifact_name/``."""
    if f"trees/sha256/{sha256[:2]}/" not in uri:
        content = artifact_bytes(uri, sha256, store_location, 0)
        return _verified(content, sha256, artifact_name), artifact_name, "application/octet-stream"
    manifest_bytes = artifact_bytes(uri, "", store_location, 0)
    entries = parse_manifest(manifest_bytes)
    if manifest_sha256(entries) != sha256:
        raise DownloadError(f"the manifest of {artifact_name} does not match its sha256")
    if sum(e.size for e in entries) > MAX_DOWNLOAD_BYTES:
        raise DownloadError("the directory is too large to download through the portal")
    store = _tree_store(uri, sha256, store_location)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for entry in entries:
            parts = entry.path.split("/")
            if entry.path.startswith("/") or ".." in parts or "" in parts:
                raise DownloadError(f"the manifest of {artifact_name} holds an unsafe path")
            with open_blob(store, entry.sha256) as stream:
                content = _verified(stream.read(MAX_DOWNLOAD_BYTES + 1), entry.sha256, entry.path)
            archive.writestr(f"{artifact_name}/{entry.path}", content)
    return buffer.getvalue(), f"{artifact_name}.zip", "application/zip"
