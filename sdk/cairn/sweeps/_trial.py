"""The trial an objective receives, and how its run records each way a trial ends.

A :class:`Trial` pairs Optuna's trial with the Cairn run that records it (a child of the sweep
run, see :mod:`cairn.sweep_record`). Every value reported for pruning is logged as the objective
metric at its step *and* given to Optuna, so the pruner and the portal see the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NoReturn

from cairn import _checks
from cairn.sweep_record import PRUNED_STEP_TAG, STATE_TAG
from cairn.sweeps._script import TrialPruned, as_values

if TYPE_CHECKING:
    import optuna

    from cairn.run import Run


class Trial:
    """One trial of a sweep: its sampled ``params``, its ``run`` and the pruning calls.

    ``report(value, step)`` logs the objective metric and informs the pruner;
    ``should_prune()`` asks it; ``prune()`` (or raising :class:`TrialPruned`) ends the trial as
    pruned. The objective returns the final value (a tuple of them for several objectives).
    """

    def __init__(
        self,
        optuna_trial: optuna.Trial,
        run: Run,
        params: Mapping[str, Any],
        objectives: Sequence[str],
    ) -> None:
        self._optuna = optuna_trial
        self.run = run
        self._params = MappingProxyType(dict(params))
        self._objectives = tuple(objectives)
        self._reported: dict[int, tuple[float, ...]] = {}
        self.last_prune_answer = False

    def __repr__(self) -> str:
        return f"<cairn.sweeps.Trial {self.number} run={self.run.id} params={dict(self.params)}>"

    @property
    def number(self) -> int:
        """The trial's number in the study (0, 1, ...), unique across the sweep's processes."""
        return self._optuna.number

    @property
    def params(self) -> Mapping[str, Any]:
        return self._params

    @property
    def optuna_trial(self) -> optuna.Trial:
        """Optuna's trial, for what Cairn does not wrap (user attrs, constraints)."""
        return self._optuna

    @property
    def last_step(self) -> int | None:
        """The highest step reported so far."""
        return max(self._reported) if self._reported else None

    @property
    def last_values(self) -> tuple[float, ...] | None:
        """The values reported at :attr:`last_step`."""
        step = self.last_step
        return None if step is None else self._reported[step]

    def report(self, value: float | Sequence[float], step: int) -> None:
        """Log the objective metric(s) at ``step`` and give the value to the pruner."""
        values = as_values(value, len(self._objectives))
        at = _checks.check_step(step)
        self.run.log(dict(zip(self._objectives, values, strict=True)), step=at)
        self.record(values, at)

    def record(self, values: tuple[float, ...], step: int) -> None:
        """Give reported values to Optuna without logging them (the caller logged them)."""
        first = step not in self._reported
        self._reported[step] = values
        if first and len(self._objectives) == 1:  # Optuna warns on a repeated step
            self._optuna.report(values[0], step)

    def should_prune(self) -> bool:
        """Whether the pruner wants this trial stopped (always False with several objectives,
        which Optuna cannot prune)."""
        if len(self._objectives) > 1:
            return False
        self.last_prune_answer = bool(self._optuna.should_prune())  # pruners answer numpy bools
        return self.last_prune_answer

    def prune(self) -> NoReturn:
        """End the trial as pruned at the last reported step."""
        raise TrialPruned(f"trial {self.number} pruned at step {self.last_step}")

    # -- how the trial's run ends ---------------------------------------------------------------

    def end_complete(self, values: tuple[float, ...]) -> None:
        """Log the returned values after every step logged so far, so a complete trial's value
        is the last value of each objective metric; then finish the run."""
        reported = self.last_step
        after = 0 if reported is None else reported + 1
        # A run's next auto step is one past the last step it logged, whatever the metric.
        step = max(after, self.run._next_step)
        if values != self.last_values or step > after:  # else the last point says it already
            self.run.log(dict(zip(self._objectives, values, strict=True)), step=step)
        self.run.set_tags({STATE_TAG: "complete"})
        self.run.finish()

    def end_pruned(self) -> None:
        step = self.last_step
        self.run.set_tags({STATE_TAG: "pruned", PRUNED_STEP_TAG: 0 if step is None else step})
        self.run.finish()

    def end_failed(self, error: BaseException) -> None:
        """Failed with ``error``'s traceback; trials stopped by Ctrl-C or a signal are killed."""
        interrupted = isinstance(error, KeyboardInterrupt)
        killed = interrupted or bool(getattr(error, "killed", False))
        exit_code = 130 if interrupted else getattr(error, "exit_code", 1)
        self.run.set_tags({STATE_TAG: "failed"})
        self.run.fail_with(error, killed=killed, exit_code=exit_code)


def check_result(result: object, objectives: Sequence[str], number: int) -> tuple[float, ...]:
    """The objective's return value as one finite float per objective."""
    count = len(objectives)
    field = "objective"
    if result is None:
        _checks.fail(field, "returned_value", f"trial {number} returned None: return the value")
    values = as_values(result, count)
    for name, value in zip(objectives, values, strict=True):
        if not math.isfinite(value):
            _checks.fail(field, "finite_value", f"trial {number} returned {value} for {name}")
    return values
