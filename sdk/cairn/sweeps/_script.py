"""What training code calls inside a trial: :func:`params`, :func:`report`, :func:`should_prune`.

The same three calls work in both kinds of sweep, and outside one:

- inside an objective run by :func:`cairn.sweep` they act on the current :class:`Trial`;
- in a script started by ``cairn sweep`` they talk to that process over a pipe it passed down
  (``CAIRN_SWEEP_CHANNEL``: two file descriptors), so the script needs neither Optuna nor the
  sweep's storage; the script's ``cairn.init()`` continues the trial's run (``CAIRN_RESUME``);
- outside a sweep, :func:`params` is empty, :func:`report` only logs and :func:`should_prune`
  is False, so the script runs on its own unchanged.

Light on purpose (no Optuna): a training script imports this module. What ``cairn sweep``
passes down (``CAIRN_SWEEP_*``) is read through :func:`cairn.config.read_handover`.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from contextvars import ContextVar
from typing import IO, TYPE_CHECKING, Any

from cairn import _checks, config
from cairn.errors import UnavailableError, ValidationError

if TYPE_CHECKING:
    from cairn.sweeps._trial import Trial

ENV_CHANNEL = config.SWEEP_CHANNEL_VARIABLE  # "<write fd>,<read fd>" of the pipe to `cairn sweep`
ENV_PARAMS = config.SWEEP_PARAMS_VARIABLE  # the trial's params as a JSON object
ENV_OBJECTIVES = config.SWEEP_OBJECTIVES_VARIABLE  # the objective metric names as a JSON list
ENV_TRIAL = "CAIRN_SWEEP_TRIAL"  # the trial number
ENV_SWEEP = "CAIRN_SWEEP_ID"  # the sweep run's id
ENV_PARAM_PREFIX = "CAIRN_PARAM_"  # one variable per param with `params: env`
DEFAULT_METRIC = "objective"


class TrialPruned(Exception):
    """Raise it in an objective to end a trial the pruner gave up on (``optuna.TrialPruned``
    works too)."""


_current: ContextVar[Trial | None] = ContextVar("cairn_sweep_trial", default=None)
_channel_lock = threading.Lock()
_channel: _Channel | None = None


def current_trial() -> Trial | None:
    """The trial whose objective is running in this thread, if any."""
    return _current.get()


def params() -> dict[str, Any]:
    """The params sampled for this trial; empty outside a sweep."""
    trial = _current.get()
    if trial is not None:
        return dict(trial.params)
    raw = config.read_handover().sweep_params
    loaded = json.loads(raw) if raw else {}
    return loaded if isinstance(loaded, dict) else {}


def report(value: float | Sequence[float], step: int) -> None:
    """Log the objective metric(s) at ``step`` on the trial's run and tell the pruner.

    ``value`` is one number, or one per objective for a multi-objective sweep. In a script run
    by ``cairn sweep`` the last value reported is the trial's result. Starts the run with
    ``cairn.init()`` when none is active (in a ``cairn sweep`` script: the trial's run).
    """
    trial = _current.get()
    if trial is not None:
        trial.report(value, step)
        return
    import cairn

    names = _objective_names()
    values = as_values(value, len(names))
    at = _checks.check_step(step)
    run = cairn.current_run() or cairn.init()
    run.log(dict(zip(names, values, strict=True)), step=at)
    channel = _open_channel()
    if channel is not None:
        channel.request({"op": "report", "values": list(values), "step": at})


def should_prune() -> bool:
    """Whether the pruner wants this trial stopped, judged on the values reported so far.

    In a ``cairn sweep`` script: stop training and exit normally (status 0) when this is True;
    the trial is recorded as pruned at the last reported step."""
    trial = _current.get()
    if trial is not None:
        return trial.should_prune()
    channel = _open_channel()
    if channel is None:
        return False
    return bool(channel.request({"op": "should_prune"}).get("prune"))


def as_values(value: object, count: int) -> tuple[float, ...]:
    """One float per objective; ValidationError naming what was wrong."""
    items = value if isinstance(value, Sequence) and not isinstance(value, str) else (value,)
    if len(items) != count:
        _checks.fail("value", "objective_count", f"expected {count} value(s), got {len(items)}")
    return tuple(_checks.to_metric_value(v, f"value[{i}]") for i, v in enumerate(items))


def _objective_names() -> tuple[str, ...]:
    raw = config.read_handover().sweep_objectives
    names = json.loads(raw) if raw else [DEFAULT_METRIC]
    return tuple(str(n) for n in names)


class _Channel:
    """The script's end of the pipe to ``cairn sweep``: one JSON line out, one JSON line back."""

    def __init__(self, out: IO[str], back: IO[str]) -> None:
        self._out = out
        self._back = back
        self._lock = threading.Lock()

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            try:
                self._out.write(json.dumps(message) + "\n")
                self._out.flush()
                line = self._back.readline()
            except OSError:
                line = ""
        if not line:
            raise UnavailableError(
                "the `cairn sweep` process running this trial is gone", field="sweep"
            )
        reply = json.loads(line)
        if "error" in reply:
            raise ValidationError(str(reply["error"]), field="sweep", rule="sweep_request")
        return dict(reply)


def _open_channel() -> _Channel | None:
    global _channel
    with _channel_lock:
        if _channel is None:
            spec = config.read_handover().sweep_channel
            if not spec:
                return None
            write_fd, read_fd = (int(part) for part in spec.split(","))
            _channel = _Channel(
                os.fdopen(write_fd, "w", encoding="utf-8"), os.fdopen(read_fd, encoding="utf-8")
            )
        return _channel
