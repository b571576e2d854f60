"""Forks and rewinds for ``cairn.init`` (docs/sdk.md, "Fork and rewind").

A **fork** (``cairn.init(fork_from=RUN_ID, fork_step=N)``) is a new run whose history starts
from another run's: before anything is recorded, the parent is read through the query service
with the caller's key (so only a run the caller may read can be forked), and the new run's first
events are ``run_created``, ``run_forked`` (parent and step), the parent's params overridden by
``config``, and a copy of the parent's metric points at steps ``<= N`` as the new run's own
points, with their original steps and times. Logging continues at step ``N + 1``.

Copy, not reference: the inherited points become the fork's own rows in every table and
aggregate, so charts, ``Api.history``, summaries, search and SQL ``metrics`` need no special
case, a fork of a fork is just another copy, and a later rewind of the parent cannot change what
the fork started from. The cost is the copy itself; docs/sdk.md has the measured figures.

A **rewind** (``cairn.init(resume=RUN_ID, rewind_to=N)``) records ``run_rewound`` right after
``run_resumed``; logging continues at ``N + 1``. The server hides the points after N logged
before the rewind from every read and keeps them as earlier attempts (query/branches_schema.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cairn import _checks
from cairn._buffer import Series
from cairn.config import Mode, Settings
from cairn.errors import ConfigError, ValidationError
from cairn_contract.v1 import query_pb2


@dataclass
class ForkSource:
    """What a fork takes over from its parent."""

    parent_run_id: str
    step: int
    params: dict[str, Any] = field(default_factory=dict)
    series: list[Series] = field(default_factory=list)

    @property
    def points(self) -> int:
        return sum(len(s.steps) for s in self.series)


def check_branching(
    fork_from: object,
    fork_step: object,
    resume: object,
    rewind_to: object,
    run_id: object,
) -> tuple[str | None, int | None, int | None]:
    """(fork_from, fork_step, rewind_to), checked; ValidationError naming the field otherwise."""
    parent = None if fork_from is None else _checks.check_id(fork_from, "fork_from")
    step = None if fork_step is None else _checks.check_step(fork_step, "fork_step")
    rewind = None if rewind_to is None else _checks.check_step(rewind_to, "rewind_to")
    if (parent is None) != (step is None):
        missing = "fork_step" if step is None else "fork_from"
        raise ValidationError(
            f"{missing}: a fork needs both fork_from (the run) and fork_step (the last step "
            "taken over) (rule fork_pair)",
            field=missing,
            rule="fork_pair",
        )
    if parent is not None and (resume is not None or run_id is not None):
        what = "resume" if resume is not None else "run_id"
        raise ValidationError(
            f"{what}: a fork is a new run; it cannot be combined with {what}= (rule fork_new_run)",
            field=what,
            rule="fork_new_run",
        )
    if rewind is not None and resume is None:
        raise ValidationError(
            "rewind_to: only a resumed run can be rewound; pass resume=RUN_ID too "
            "(rule rewind_needs_resume)",
            field="rewind_to",
            rule="rewind_needs_resume",
        )
    return parent, step, rewind


def read_fork_source(settings: Settings, parent_run_id: str, fork_step: int) -> ForkSource:
    """The parent's params and its points at steps <= ``fork_step``, read with the caller's key
    (NotFoundError when the caller may not read the parent)."""
    if settings.mode is not Mode.ONLINE:
        raise ConfigError(
            f"mode: a fork reads its parent through the query service, so it needs mode "
            f"'online' (got {settings.mode.value!r})",
            field="mode",
        )
    from cairn._frames import params_dict
    from cairn._query_client import QueryClient

    client = QueryClient(settings)
    try:
        reply = client.call("GetRun", query_pb2.GetRunRequest(run_id=parent_run_id))
        source = ForkSource(parent_run_id, fork_step, params_dict(reply.run.params))
        request = query_pb2.MetricHistoryRequest(run_ids=[parent_run_id], samples=0)
        by_key: dict[str, Series] = {}
        for chunk in client.stream("MetricHistory", request):
            series = by_key.setdefault(chunk.key, Series(chunk.key, [], [], []))
            for step, value, at in zip(chunk.steps, chunk.values, chunk.timestamps_ns, strict=True):
                if step <= fork_step:
                    series.steps.append(step)
                    series.values.append(value)
                    series.timestamps_ns.append(at)
    finally:
        client.close()
    source.series = [s for _, s in sorted(by_key.items()) if s.steps]
    return source
