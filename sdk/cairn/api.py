"""Reading Cairn from notebooks and scripts, and editing finished runs: ``cairn.Api``.

::

    import cairn

    api = cairn.Api()                       # the local stack, or CAIRN_* / arguments
    df = api.runs(project="churn", filter="metrics.val_loss < 0.3", order_by="created desc")
    run = api.run(df.run_id[0])
    run.params, run.tags, run.summary       # dicts
    run.set_tags({"stage": "review"})       # an event through ingest, with you as its actor

Connection settings resolve like ``cairn.init``'s (explicit arguments, then ``CAIRN_*``
variables, then the local-stack file ``cairn up`` writes); reads go to the query service that
ingest serves on the same address, with the same API key, and see what the key's holder sees in
the portal. Every failure is a :class:`~cairn.errors.CairnError` with the server's code.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn import _api_reads
from cairn._api_reads import Progress, RunDiff
from cairn._api_run import ApiRun
from cairn._query_client import QueryClient
from cairn.config import Settings, resolve_settings
from cairn.errors import ValidationError
from cairn.v1 import query_pb2

if TYPE_CHECKING:
    import pandas as pd

PAGE_SIZE = 1_000


class Api:
    """A connection to Cairn's query service with one API key; close it (or use ``with``) to
    release the channel."""

    def __init__(
        self,
        *,
        ingest_url: str | None = None,
        api_key: str | None = None,
        project: str | None = None,
        team: str | None = None,
        timeout_s: float = 60.0,
        settings: Settings | None = None,
    ) -> None:
        explicit = {"ingest_url": ingest_url, "api_key": api_key, "team": team}
        self.settings = settings or resolve_settings(explicit)
        self.default_project = project
        self._client = QueryClient(self.settings, timeout_s=timeout_s)

    @property
    def address(self) -> str:
        return self._client.address

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    # -- runs ---------------------------------------------------------------------------------

    def run(self, run_id: str) -> ApiRun:
        """One run, with its parameters, tags, summary and provenance; NotFoundError when it does
        not exist or the key may not see it."""
        if not isinstance(run_id, str) or not run_id:
            raise ValidationError("run_id must be a non-empty string", field="run_id")
        reply = self._client.call("GetRun", query_pb2.GetRunRequest(run_id=run_id))
        return ApiRun(self._client, reply.run)

    def search(
        self,
        project: str | None = None,
        filter: str | None = None,
        order_by: str | Sequence[str] | None = None,
        limit: int | None = None,
    ) -> Iterator[query_pb2.RunRow]:
        """The matching runs one at a time (``cairn.v1.RunRow`` messages), fetched a page at a
        time as you iterate; ``limit`` None means every match."""
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            raise ValidationError(f"limit must be an integer >= 0, got {limit!r}", field="limit")
        order = order_by if isinstance(order_by, str) or order_by is None else ", ".join(order_by)
        request = query_pb2.SearchRunsRequest(
            filter=filter or "",
            order_by=order or "",
            project=project or self.default_project or "",
            page_size=PAGE_SIZE if limit is None else max(1, min(PAGE_SIZE, limit)),
        )
        produced = 0
        while limit is None or produced < limit:
            reply = self._client.call("SearchRuns", request)
            for row in reply.runs:
                if limit is not None and produced >= limit:
                    return
                produced += 1
                yield row
            if not reply.next_page_token:
                return
            request.page_token = reply.next_page_token

    def runs(
        self,
        project: str | None = None,
        filter: str | None = None,
        order_by: str | Sequence[str] | None = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """One row per matching run: ``run_id, name, project, team, status, owner, created_at,
        finished_at``, then ``params.<key>``, ``metrics.<key>`` (last value) and ``tags.<key>``.

        ``project`` None means every project the key may see; ``filter`` is the filter language
        (``"params.lr < 1e-3 and metrics.val_acc > 0.9"``; INVALID_ARGUMENT pointing at the
        character when malformed); ``order_by`` is ``"field [asc|desc], ..."`` (default newest
        first); ``limit`` None means every match. Needs pandas (the ``api`` extra).
        """
        from cairn._frames import require_pandas, runs_frame

        require_pandas("Api.runs")
        return runs_frame(self.search(project, filter, order_by, limit))

    # -- many runs ----------------------------------------------------------------------------

    def histories(
        self,
        run_ids: Sequence[str] | str,
        keys: Sequence[str] | str | None = None,
        samples: int | None = None,
    ) -> pd.DataFrame:
        """Metric points of many runs and keys in one call: ``run_id, key, step, timestamp,
        value``, every point unless ``samples``; with ``samples=N`` at most N equal step buckets
        per series, each its last point plus ``min``, ``max`` and ``count`` of the bucket.
        ``keys`` None means every key. Runs the key may not see are left out."""
        return _api_reads.histories(self._client, run_ids, keys, samples)

    def scan_histories(
        self, run_ids: Sequence[str] | str, keys: Sequence[str] | str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every point of many runs at full resolution, streamed one dict at a time (``run_id,
        key, step, timestamp, value``), like W&B's ``scan_history()``; ``histories(...,
        samples=N)`` is the cheap, downsampled overview."""
        return _api_reads.scan_history(self._client, run_ids, keys)

    def compare(self, run_ids: Sequence[str]) -> pd.DataFrame:
        """Runs side by side: one column per run, rows ``name, project, status, owner,
        created_at``, ``params.<key>`` and ``metrics.<key>`` (last values); ``.attrs`` says
        whether code, environment and datasets are the same and which params differ."""
        return _api_reads.compare(self._client, run_ids)

    def diff(self, a: str, b: str) -> RunDiff:
        """What changed from run ``a`` to run ``b``: code, parameters, environment, packages
        and datasets (``print()`` it for a report)."""
        return _api_reads.diff(self._client, a, b)

    def export(
        self,
        path: str | Path,
        project: str | None = None,
        filter: str | None = None,
        format: str = "parquet",
        *,
        progress: Progress | None = None,
    ) -> dict[str, int]:
        """Write the matching runs, their params, tags and every metric point into the
        directory ``path`` as ``runs``, ``params``, ``tags`` and ``metrics`` files (Parquet,
        CSV or JSON lines), streamed batch by batch; returns the rows written per table."""
        return _api_reads.export(
            self._client,
            path,
            project=project or self.default_project,
            filter=filter,
            format=format,
            progress=progress,
        )

    def lineage(
        self, run_id: str, direction: str = "upstream", depth: int = 5
    ) -> query_pb2.LineageResponse:
        """The lineage graph around a run: ``nodes`` (runs, datasets, artifacts, model
        versions) and ``edges`` (source -relation-> target), visible edges only."""
        request = query_pb2.LineageRequest(kind="run", id=run_id, direction=direction, depth=depth)
        reply: query_pb2.LineageResponse = self._client.call("Lineage", request)
        return reply

    def comments(self, run_id: str) -> list[query_pb2.Comment]:
        """The discussion on a run, oldest first."""
        request = query_pb2.CommentsRequest(target_kind="run", target_id=run_id)
        return list(self._client.call("Comments", request).comments)
