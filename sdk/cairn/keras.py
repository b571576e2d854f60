"""Keras 3 (any backend): :class:`CairnCallback` records a ``model.fit`` run.

::

    model.fit(x, y, epochs=5, validation_split=0.2,
              callbacks=[cairn.keras.CairnCallback(project="mnist", save_model=True)])

What lands on the run:

- params: ``fit.epochs`` and ``fit.steps_per_epoch`` (Keras 3 does not tell callbacks the batch
  size: pass it in ``config=``), the optimizer's configuration as ``optimizer.<key>``
  (``optimizer.name``, ``optimizer.learning_rate`` ...; a schedule's configuration nested under
  it), and ``model.class``, ``model.parameters_total``, ``model.parameters_trainable``;
- metrics: the epoch logs (``loss``, ``val_loss``, ``accuracy`` ...) at the epoch number as step;
  with ``log_batch_frequency=n``, every n-th training batch's logs as ``batch/<name>`` at the
  global batch number (counted across epochs) as step;
- artifacts: ``model.summary()`` as ``model_summary.txt`` (kind ``other``), and with
  ``save_model=True`` the trained model saved by ``model.save`` as ``model.keras`` (kind
  ``model``) when training ends; with ``registered_model_name="churn"`` as well, that file is
  registered as the next version of model ``churn`` (:func:`cairn.register_model`'s path).

Runs: see ``_torch_family.RunSlot``. A run the callback started is finished when ``fit`` returns;
another ``fit`` with the same callback continues that run. Keras tells callbacks nothing when
``fit`` raises: an uncaught exception still marks the run failed (``cairn``'s exception hook).
"""

from __future__ import annotations

import math
import tempfile
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn import _checks as checks
from cairn import _torch_family as family

try:
    import keras
except ImportError as error:
    raise family.missing(
        "Keras 3 with a backend (KERAS_BACKEND=jax, tensorflow or torch; for cairn.keras)",
        "keras",
        error,
    ) from error

if TYPE_CHECKING:
    from cairn.run import Run

__all__ = ["CairnCallback"]

SUMMARY_ARTIFACT = "model_summary.txt"
MODEL_ARTIFACT = "model.keras"


class CairnCallback(keras.callbacks.Callback):  # type: ignore[misc]  # keras ships no types
    """A Keras callback writing to a Cairn run.

    ``project``, ``name`` and ``init_args`` (any other :func:`cairn.init` keyword) start the
    callback's own run at the start of training; ``run`` records into an existing one.
    """

    # Our batch hook only logs (thread-safe), so Keras may keep dispatching batch ends async.
    async_safe = True

    def __init__(
        self,
        project: str | None = None,
        name: str | None = None,
        *,
        run: Run | None = None,
        log_batch_frequency: int | None = None,
        save_model: bool = False,
        registered_model_name: str | None = None,
        log_summary: bool = True,
        **init_args: Any,
    ) -> None:
        super().__init__()
        from cairn.models import check_registered_name

        self._registered_name = check_registered_name(
            registered_model_name, save_model, "save_model=True"
        )
        if log_batch_frequency is not None and (
            isinstance(log_batch_frequency, bool)
            or not isinstance(log_batch_frequency, int)
            or log_batch_frequency < 1
        ):
            checks.fail(
                "log_batch_frequency",
                "positive_integer",
                f"must be None or an integer >= 1, got {log_batch_frequency!r}",
            )
        self._slot = family.RunSlot(run, {"project": project, "name": name, **init_args})
        self._batch_frequency = log_batch_frequency
        self._save_model = save_model
        self._log_summary = log_summary
        self._described = False
        self._lock = threading.Lock()
        self._batches_before_epoch = 0  # training batches of the epochs before this one
        self._batches_in_epoch = 0

    @property
    def run(self) -> Run | None:
        """The run the callback records into; None until training starts."""
        return self._slot.peek()

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        run = self._slot.get()
        if self._described:
            return
        self._described = True
        fit = self.params or {}
        values: dict[str, Any] = {
            "fit.epochs": fit.get("epochs"),
            "model.class": type(self.model).__name__,
        }
        if fit.get("steps") is not None:
            values["fit.steps_per_epoch"] = fit["steps"]
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None:
            with _numpy_copy_deprecation_ignored():
                config = optimizer.get_config()
            values.update(family.params(config, "optimizer"))
        if self.model.built:
            values["model.parameters_total"] = self.model.count_params()
            values["model.parameters_trainable"] = sum(
                math.prod(weight.shape) for weight in self.model.trainable_weights
            )
            if self._log_summary:
                family.log_text(run, _summary(self.model), SUMMARY_ARTIFACT)
        run.log_params(family.params(values))

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._batches_in_epoch = 0

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self._batch_frequency is None:
            return
        with self._lock:
            self._batches_in_epoch = max(self._batches_in_epoch, batch + 1)
        step = self._batches_before_epoch + batch
        if step % self._batch_frequency == 0 and logs:
            values = family.metrics(logs, "batch/")
            if values:
                self._slot.get().log(values, step=step)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._batches_before_epoch += self._batches_in_epoch
        values = family.metrics(logs or {})
        if values:
            self._slot.get().log(values, step=epoch)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._save_model:
            with tempfile.TemporaryDirectory(prefix="cairn-") as directory:
                path = Path(directory) / MODEL_ARTIFACT
                with _numpy_copy_deprecation_ignored():
                    self.model.save(path)
                run = self._slot.get()
                artifact = run.log_artifact(path, name=MODEL_ARTIFACT, kind="model")
                if self._registered_name:
                    from cairn.models import register_logged

                    metadata = {"flavor": "keras", "keras_version": keras.__version__}
                    register_logged(run, artifact, self._registered_name, metadata=metadata)
        self._slot.finish()


@contextmanager
def _numpy_copy_deprecation_ignored() -> Iterator[None]:
    """Keras 3.15 on the torch backend reads variables through a NumPy 1 style ``__array__``
    that NumPy 2 deprecates; the warning is Keras' to fix, not the user's to see from us."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message="__array__ implementation doesn't accept a copy keyword",
            category=DeprecationWarning,
        )
        yield


def _summary(model: Any) -> str:
    parts: list[str] = []

    def collect(text: str, line_break: bool = True) -> None:
        parts.append(text)

    model.summary(print_fn=collect)
    return "\n".join(parts)
