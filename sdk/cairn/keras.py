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
- sample predictions, with ``samples=(x, y)`` (a few validation examples, at most 10,000): after
  every ``samples_every``-th epoch (and the last), the model's predictions on them as one table
  under ``samples_key`` (default ``samples/predictions``) at the epoch as step: a row per example
  with ``example``, ``input`` (the example drawn as an image, when it is one: logged once under
  ``<samples_key>/inputs``), ``label``, ``prediction``, ``confidence`` and ``correct``; class
  indexes named by ``class_names``. See ``cairn._samples`` for how outputs become predictions.
  The rows are queryable across runs in ``cairn_reporting.table_rows`` (docs/media.md). If
  predicting or logging them fails, a warning says why and training goes on without them;
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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn import _checks as checks
from cairn import _samples as sampling
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
        samples: tuple[Any, Any] | Any = None,
        samples_every: int = 1,
        samples_key: str = sampling.DEFAULT_KEY,
        class_names: Sequence[str] | None = None,
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
        self._samples = _sample_set(samples) if samples is not None else None
        self._samples_every = sampling.check_every(samples_every, "samples_every")
        self._samples_key = checks.check_key(samples_key, "samples_key")
        self._class_names = class_names
        self._sample_images: list[Any] | None = None  # MediaRefs (or None), logged once

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
        last = epoch + 1 == (self.params or {}).get("epochs")
        if self._samples is not None and ((epoch + 1) % self._samples_every == 0 or last):
            self._log_samples(epoch)

    def _log_samples(self, epoch: int) -> None:
        """The sample predictions table at ``epoch``; a failure warns and stops sampling."""
        assert self._samples is not None
        x, y = self._samples
        run = self._slot.get()
        try:
            with _numpy_copy_deprecation_ignored():
                predicted = self.model.predict(x, verbose=0)
            if self._sample_images is None:
                self._sample_images = [
                    run.log_image(
                        f"{self._samples_key}/inputs",
                        example,
                        step=epoch,
                        caption=f"example {index}",
                    )
                    if sampling.looks_like_image(example)
                    else None
                    for index, example in enumerate(_examples(x))
                ]
            rows = sampling.prediction_rows(keras.ops.convert_to_numpy(predicted), y,
                                           self._class_names, self._sample_images)  # fmt: skip
            run.log_table(self._samples_key, rows, step=epoch)
        except Exception as error:
            warnings.warn(
                f"cairn: sample predictions not logged, and no longer tried ({error})",
                RuntimeWarning, stacklevel=2,
            )  # fmt: skip
            self._samples = None

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


def _sample_set(given: Any) -> tuple[Any, Any]:
    """``(x, y)`` or ``x`` alone, checked: 1 to ``MAX_SAMPLES`` examples, as many labels."""
    x, y = given if isinstance(given, tuple) and len(given) == 2 else (given, None)
    count = len(_examples(x))
    sampling.check_count(count, "samples")
    if y is not None and len(y) != count:
        checks.fail("samples", "same_length", f"{count} examples but {len(y)} labels")
    return x, y


def _examples(x: Any) -> Sequence[Any]:
    """The examples of a model input: an array's rows, or a dict/list of inputs' first one's."""
    if isinstance(x, dict):
        x = next(iter(x.values()))
    elif isinstance(x, list | tuple):
        x = x[0]
    return x  # type: ignore[no-any-return]


def _summary(model: Any) -> str:
    parts: list[str] = []

    def collect(text: str, line_break: bool = True) -> None:
        parts.append(text)

    model.summary(print_fn=collect)
    return "\n".join(parts)
