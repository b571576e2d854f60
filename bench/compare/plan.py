"""The sizes of a comparison run: full (``make bench``) and quick (``make bench QUICK=1``).

The issue's sizes would take hours on the 2-core machine the benchmark runs on (MLflow's server
takes 0.1-0.4 s per request there, Aim ~40 ms to create a run), so the full profile scales some
of them down to fit ``make bench`` in 30 minutes, and the report says by how much
(:meth:`Sizes.scaling_notes`); the same scale applies to every system. ``--size name=value``
restores any of them (e.g. ``--size store_runs=10000``) for a longer run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any


@dataclass(frozen=True)
class Sizes:
    repetitions: int
    # 1. logging cost
    log_calls: int  # log calls timed one by one (at most log_max_seconds)
    log_max_seconds: float
    train_steps: int  # MLP steps per loop (at most train_max_seconds)
    train_max_seconds: float
    # 2. ingest throughput (and 5. resources, sampled during it)
    job_counts: tuple[int, ...]
    ingest_points: int  # points all N jobs log together (each job logs its share of steps)
    log_cap_s: float  # a job stops logging after this long even if its share is not done
    cell_cap_s: float  # from the start of logging: give up waiting for the rest to be queryable
    metrics_per_step: int
    # 3. sweep load
    sweep_runs: int
    sweep_params: int
    sweep_metrics: int
    sweep_steps: int
    sweep_concurrency: int  # runs in flight at once (spread over the worker processes)
    sweep_cap_s: float  # per system and repetition
    # 4. queries at scale
    store_runs: int
    store_params: int
    store_metrics: int
    history_runs: int
    history_steps: int
    compare_runs: int
    load_cap_s: float  # per system; a peer that cannot load in time is reported, not waited for
    # processes
    workers: int  # worker driver processes per system (jobs are threads spread over them)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def scaling_notes(self) -> list[str]:
        """How these sizes differ from the issue's, for the report."""
        notes = []
        notes.append(
            f"workload 2: the N jobs log {self.ingest_points:,} points together (at most "
            f"{self.log_cap_s:g} s of logging, {self.cell_cap_s:g} s until queryable) instead of "
            "logging for 60 s"
        )
        if self.sweep_steps < 1000:
            notes.append(
                f"workload 3: {self.sweep_runs:,} runs x {self.sweep_metrics} metrics x "
                f"{self.sweep_steps:,} steps instead of 1,000 x 5 x 1,000"
            )
        elif self.sweep_runs < 1000:
            notes.append(f"workload 3: {self.sweep_runs:,} runs instead of 1,000")
        if self.store_runs < 10_000 or self.history_steps < 100_000:
            notes.append(
                f"workload 4: {self.store_runs:,} runs stored, {self.history_runs} of them with "
                f"{self.history_steps:,}-step histories, instead of 10,000 runs and "
                f"100 x 100,000 steps"
            )
        return notes


FULL = Sizes(
    repetitions=5,
    log_calls=300,
    log_max_seconds=1.0,
    train_steps=800,
    train_max_seconds=1.5,
    job_counts=(1, 8, 64),
    ingest_points=600_000,
    log_cap_s=3.0,
    cell_cap_s=6.0,
    metrics_per_step=20,
    sweep_runs=100,
    sweep_params=10,
    sweep_metrics=5,
    sweep_steps=100,
    sweep_concurrency=8,
    sweep_cap_s=90.0,
    store_runs=2_000,
    store_params=10,
    store_metrics=5,
    history_runs=100,
    history_steps=2_000,
    compare_runs=50,
    load_cap_s=300.0,
    workers=2,
)

QUICK = Sizes(
    repetitions=1,
    log_calls=300,
    log_max_seconds=0.5,
    train_steps=400,
    train_max_seconds=1.2,
    job_counts=(1, 8),
    ingest_points=300_000,
    log_cap_s=3.0,
    cell_cap_s=6.0,
    metrics_per_step=20,
    sweep_runs=30,
    sweep_params=10,
    sweep_metrics=5,
    sweep_steps=30,
    sweep_concurrency=4,
    sweep_cap_s=60.0,
    store_runs=200,
    store_params=10,
    store_metrics=5,
    history_runs=10,
    history_steps=500,
    compare_runs=20,
    load_cap_s=60.0,
    workers=2,
)


def sizes_for(quick: bool, repetitions: int | None = None, overrides: Sequence[str] = ()) -> Sizes:
    """The profile, with ``repetitions`` and ``name=value`` overrides (``store_runs=10000``,
    ``job_counts=1,8,64``) applied; an unknown name or a bad value raises ValueError."""
    chosen = QUICK if quick else FULL
    if repetitions:
        chosen = replace(chosen, repetitions=repetitions)
    changes: dict[str, Any] = {}
    for item in overrides:
        name, _, raw = item.partition("=")
        current = getattr(chosen, name.strip(), None)
        if current is None or not raw:
            raise ValueError(f"unknown size or missing value: {item!r}")
        if isinstance(current, tuple):
            changes[name.strip()] = tuple(int(part) for part in raw.split(","))
        else:
            changes[name.strip()] = type(current)(raw)
    return replace(chosen, **changes)
