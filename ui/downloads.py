"""Artifact bytes for download buttons, from the recorded URI or the content-addressed store.

The portal only reads the store the SDK writes; where a blob lives is the contract's
(``cairn_contract.artifact_layout``). Remote locations (``s3://`` ...) need ``fsspec`` and the
backend's package installed beside the portal, as for the SDK.
"""

from __future__ import annotations

from typing import BinaryIO

from cairn_contract.artifact_layout import blob_key, is_local, local_path, open_artifact
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
