"""Plain PyTorch: watch a model's gradients and weights, and record its structure.

::

    run = cairn.init(project="mnist")
    cairn.torch.watch(model, log="all", log_freq=100)
    for step, (x, y) in enumerate(batches):
        loss = loss_fn(model(x), y)
        loss.backward()           # every 100th backward pass records histograms and summaries
        optimizer.step()

Every ``log_freq``-th backward pass that reaches a trainable parameter (pass 0, ``log_freq``,
``2 * log_freq`` ...) records, at that pass number as the step:

- ``gradients/<param>``: a histogram of the gradient's values, and the metrics
  ``gradients/<param>/norm`` (L2), ``/mean`` and ``/std``, when ``log`` is ``"gradients"`` or
  ``"all"``;
- ``parameters/<param>``: the same for the weights, when ``log`` is ``"parameters"`` or ``"all"``.

The pass number equals the optimizer step when each step does one backward pass; with gradient
accumulation it counts backward passes. Histograms cover the finite values (the summaries keep NaN
and ±inf, which is what shows a diverging run). Frozen parameters are not watched.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from cairn import _checks as checks
from cairn import _torch_family as family
from cairn.errors import FailedPreconditionError

try:
    import torch
except ImportError as error:
    raise family.missing("PyTorch (for cairn.torch)", "torch", error) from error

if TYPE_CHECKING:
    from cairn.run import Run

__all__ = ["SUMMARY_ARTIFACT", "ModelSummary", "log_model_summary", "summarize", "unwatch", "watch"]

Watched = Literal["gradients", "parameters", "all"]
SUMMARY_ARTIFACT = "model_summary.txt"
_watchers: weakref.WeakKeyDictionary[torch.nn.Module, _Watcher] = weakref.WeakKeyDictionary()


@dataclass(frozen=True, slots=True)
class ModelSummary:
    """A module's structure: ``text`` (the module tree and a table of parameters) and counts."""

    text: str
    parameters_total: int
    parameters_trainable: int


def summarize(model: torch.nn.Module) -> ModelSummary:
    named = list(model.named_parameters())
    total = sum(p.numel() for _, p in named)
    trainable = sum(p.numel() for _, p in named if p.requires_grad)
    width = max((len(name) for name, _ in named), default=9)
    rows = [f"{'parameter':<{width}}  {'shape':<20} {'count':>12}  trainable"]
    for name, parameter in named:
        shape = str(tuple(parameter.shape))
        flag = "yes" if parameter.requires_grad else "no"
        rows.append(f"{name:<{width}}  {shape:<20} {parameter.numel():>12,}  {flag}")
    heading = f"{type(model).__name__}: {total:,} parameters ({trainable:,} trainable)"
    text = "\n\n".join([heading, str(model), "\n".join(rows)]) + "\n"
    return ModelSummary(text, total, trainable)


def log_model_summary(run: Run, model: torch.nn.Module) -> ModelSummary:
    """Record ``model``'s structure on ``run``: the params ``model.class``,
    ``model.parameters_total`` and ``model.parameters_trainable``, and the text of
    :func:`summarize` as the artifact ``model_summary.txt``."""
    summary = summarize(model)
    run.log_params(
        {
            "model.class": type(model).__name__,
            "model.parameters_total": summary.parameters_total,
            "model.parameters_trainable": summary.parameters_trainable,
        }
    )
    family.log_text(run, summary.text, SUMMARY_ARTIFACT)
    return summary


def watch(
    model: torch.nn.Module,
    run: Run | None = None,
    *,
    log: Watched = "gradients",
    log_freq: int = 100,
    log_graph: bool = True,
    bins: int = 64,
) -> None:
    """Record histograms and summaries of ``model``'s gradients and/or weights every
    ``log_freq`` backward passes on ``run`` (default: the active run), and its structure once
    (``log_graph``, see :func:`log_model_summary`). Watching a model again replaces the earlier
    watch; :func:`unwatch` stops it, and so does the end of the run."""
    if log not in ("gradients", "parameters", "all"):
        checks.fail("log", "one_of", f"{log!r} is not one of 'gradients', 'parameters', 'all'")
    for field, value in (("log_freq", log_freq), ("bins", bins)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            checks.fail(field, "positive_integer", f"must be an integer >= 1, got {value!r}")
    if run is None:
        import cairn

        run = cairn.current_run()
        if run is None:
            raise FailedPreconditionError(
                "run: cairn.torch.watch needs a run: call cairn.init() first or pass run= "
                "(rule active_run)",
                field="run",
                rule="active_run",
            )
    unwatch(model)
    _watchers[model] = _Watcher(run, model, log, log_freq, bins)
    if log_graph:
        log_model_summary(run, model)


def unwatch(model: torch.nn.Module) -> None:
    """Stop watching ``model`` (nothing happens if it is not watched)."""
    watcher = _watchers.pop(model, None)
    if watcher is not None:
        watcher.remove()


class _Watcher:
    """Post-accumulate-grad hooks on every trainable parameter, each counting its own passes."""

    def __init__(
        self, run: Run, model: torch.nn.Module, what: Watched, log_freq: int, bins: int
    ) -> None:
        self._run = run
        self._gradients = what in ("gradients", "all")
        self._weights = what in ("parameters", "all")
        self._log_freq = log_freq
        self._bins = bins
        self._handles = [
            parameter.register_post_accumulate_grad_hook(  # type: ignore[no-untyped-call]
                self._hook(family.key(name))
            )
            for name, parameter in model.named_parameters()
            if parameter.requires_grad
        ]

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _hook(self, name: str) -> Callable[[torch.Tensor], None]:
        passes = 0

        def after_backward(parameter: torch.Tensor) -> None:
            nonlocal passes
            step, passes = passes, passes + 1
            if step % self._log_freq == 0:
                self._record(name, parameter, step)

        return after_backward

    def _record(self, name: str, parameter: torch.Tensor, step: int) -> None:
        if self._run.status != "running":  # the run ended: stop quietly, training goes on
            self.remove()
            return
        found: dict[str, float] = {}
        histograms: list[tuple[str, list[float], list[int]]] = []
        sources: list[tuple[str, torch.Tensor]] = []
        if self._gradients and parameter.grad is not None:
            sources.append((f"gradients/{name}", parameter.grad))
        if self._weights:
            sources.append((f"parameters/{name}", parameter))
        for key, tensor in sources:
            values = tensor.detach().float().flatten()
            if values.numel() == 0:
                continue
            norm, mean, std = torch.stack(
                [torch.linalg.vector_norm(values), values.mean(), values.std(correction=0)]
            ).tolist()
            found.update({f"{key}/norm": norm, f"{key}/mean": mean, f"{key}/std": std})
            histogram = _histogram(values, self._bins)
            if histogram is not None:
                histograms.append((key, *histogram))
        _log_beside(self._run, found, histograms, step)


def _histogram(values: torch.Tensor, bins: int) -> tuple[list[float], list[int]] | None:
    """Edges (``bins + 1``) and counts of the finite values; a constant gets a range one unit
    wide around it."""
    finite = values[torch.isfinite(values)]
    if finite.numel() == 0:
        return None
    low, high = (float(v) for v in torch.aminmax(finite))
    if low == high:
        low, high = low - 0.5, high + 0.5
    counts = torch.histc(finite, bins=bins, min=low, max=high)
    edges = torch.linspace(low, high, bins + 1, dtype=torch.float64)
    return edges.tolist(), [int(c) for c in counts.tolist()]


def _log_beside(
    run: Run,
    found: dict[str, float],
    histograms: list[tuple[str, list[float], list[int]]],
    step: int,
) -> None:
    """Record at ``step`` without moving the run's automatic step: the training loop's own
    ``run.log(...)`` without ``step`` keeps counting as if nothing were watched."""
    next_step = run._next_step
    try:
        if found:
            run.log(found, step=step)
        for key, edges, counts in histograms:
            run.log_histogram(key, edges=edges, counts=counts, step=step)
    finally:
        run._next_step = next_step
