"""What :func:`cairn.sweep` returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial


@dataclass(frozen=True, slots=True)
class SweepResult:
    """The sweep as this process left it (other processes may still be adding trials).

    ``run_id`` is the sweep run; ``best_trial``/``best_run_id`` are the best complete trial and
    its run (single objective; None until a trial completes), ``pareto_trials`` the Pareto front
    (several objectives). ``study`` is the Optuna study, for Optuna's own analysis tools.
    """

    run_id: str
    study_name: str
    study: optuna.Study
    complete: int
    pruned: int
    failed: int
    budget_reached: bool
    best_trial: FrozenTrial | None
    best_run_id: str | None
    pareto_trials: tuple[FrozenTrial, ...]

    @property
    def best_params(self) -> dict[str, Any]:
        return dict(self.best_trial.params) if self.best_trial is not None else {}

    @property
    def best_value(self) -> float | None:
        return self.best_trial.value if self.best_trial is not None else None
