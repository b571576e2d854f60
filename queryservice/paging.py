"""Page tokens: opaque to clients, bound to the search they continue.

A token holds the offset of the next page and a digest of the search (filter, order, project),
so a token passed with a different search is INVALID_ARGUMENT rather than a silently wrong page.
Paging is by offset over a total order (the sort keys, then the run id), so pages neither skip
nor repeat runs while the set of runs does not change.
"""

from __future__ import annotations

import base64
import hashlib
import json

from cairn_contract.errors import ValidationError


def search_digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def encode_token(offset: int, digest: str) -> str:
    raw = json.dumps({"o": offset, "d": digest}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, digest: str) -> int:
    """The offset a token continues from (0 for no token)."""
    if not token:
        return 0
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        offset = int(data["o"])
        same = data["d"] == digest
    except (ValueError, KeyError, TypeError):
        raise ValidationError(
            "page_token is not a token this service issued", field="page_token", rule="page_token"
        ) from None
    if not same or offset < 0:
        raise ValidationError(
            "page_token belongs to a different search (filter, order_by and project must stay "
            "the same while paging)",
            field="page_token",
            rule="page_token",
        )
    return offset
