"""Where ``cairn reproduce`` reads runs: the query service (``cairn.v1.Query``).

The query service is the one read path for the SDK and CLI (API-key auth, team visibility).
Until this Cairn's contract carries it, :func:`open_source` says so instead of reading around it.
"""

from __future__ import annotations

from cairn.config import Settings
from cairn.errors import UnavailableError
from cairn.reproduce._record import RunRecordSource


def open_source(settings: Settings) -> RunRecordSource:
    try:
        from cairn.v1 import query_pb2_grpc  # noqa: F401
    except ImportError:
        raise UnavailableError(
            "reading a run's record needs the query service (cairn.v1.Query), which this"
            " Cairn does not serve yet",
            field="query_service",
        ) from None
    raise UnavailableError("the query service client is not wired yet", field="query_service")
