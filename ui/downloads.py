"""Artifact bytes for download buttons, from the recorded URI or the content-addressed store."""

from __future__ import annotations

from cairn.artifacts import open_artifact, open_store
from cairn.errors import CairnError

MAX_DOWNLOAD_BYTES = 200 << 20  # the browser download goes through the portal's memory


class DownloadError(CairnError):
    """The artifact cannot be offered for download; the message says why."""


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
            with open_store(store_location).open_blob(sha256) as stream:
                return stream.read(MAX_DOWNLOAD_BYTES + 1)
        except (CairnError, OSError, ValueError) as exc:
            errors.append(str(exc))
    raise DownloadError("the artifact is not readable from the portal: " + "; ".join(errors))
