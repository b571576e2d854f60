"""PyTorch Lightning: :class:`CairnLogger` records a ``Trainer``'s run.

::

    logger = cairn.lightning.CairnLogger(project="mnist", log_model=True)
    trainer = lightning.Trainer(max_epochs=3, logger=logger)
    trainer.fit(model, train_loader, val_loader)

What lands on the run: the module's (and datamodule's) ``save_hyperparameters()`` as params
(nested values flattened to dotted keys); everything ``self.log(...)`` sends to loggers as metrics
at Lightning's global step (``epoch`` included, as Lightning adds it); the model's structure
(params ``model.class``, ``model.parameters_total``, ``model.parameters_trainable`` and the
artifact ``model_summary.txt``) unless ``log_graph=False``; checkpoints written by
``ModelCheckpoint`` as artifacts of kind ``checkpoint`` named by their file name, with metadata
``monitor``, ``score`` and ``aliases`` (``best``, ``last``), per ``log_model``:

- ``False`` (default): none;
- ``True``: the best and last checkpoints (and the top-k ones kept), once, at the end of training;
  every checkpoint as it is written when ``save_top_k=-1``;
- ``"all"``: every checkpoint as it is written.

``logger.log_image(key, images, step=None, caption=[...])``, ``logger.log_table(key, columns,
data)`` (or ``dataframe=``) and ``logger.log_text(key, text)`` log media on the run (docs/media.md),
e.g. sample predictions from a callback: ``trainer.logger.log_image("val/samples", [...])``.

With ``registered_model_name="churn"`` (and ``log_model`` on) the best checkpoint (else the last)
is registered as the next version of model ``churn`` when training ends.

Runs: see ``_torch_family.RunSlot``: the logger records into ``run=``, else into the active run when
it is given no ``cairn.init`` arguments, else into a run it starts on first use and finishes when
training ends (``failed``, with the traceback, when ``fit`` raises). ``trainer.test`` after
``trainer.fit`` continues the same run. Only global rank 0 records.
"""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from cairn import _checks as checks
from cairn import _torch_family as family

try:
    from lightning.fabric.loggers.logger import _DummyExperiment
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import Logger
    from lightning.pytorch.utilities import rank_zero_only
    from torch import Tensor
    from torch.nn import Module
except ImportError as error:
    raise family.missing("PyTorch Lightning (for cairn.lightning)", "lightning", error) from error

if TYPE_CHECKING:
    from cairn.run import Artifact, Run

__all__ = ["CairnLogger"]

LogModel = bool | Literal["all"]
_IMAGE_OPTIONS = ("caption", "boxes", "masks")


def _rank() -> int:
    return int(getattr(rank_zero_only, "rank", 0))


class CairnLogger(Logger):
    """A Lightning logger writing to a Cairn run.

    ``project``, ``name`` and ``init_args`` (any other :func:`cairn.init` keyword: ``config``,
    ``tags``, ``parent``, ``settings`` ...) start the logger's own run on first use; ``run``
    records into an existing one. ``name`` is the Cairn project and ``version`` the run id, so
    checkpoints land in ``<default_root_dir>/<project>/<run id>/checkpoints``.
    """

    def __init__(
        self,
        project: str | None = None,
        name: str | None = None,
        *,
        run: Run | None = None,
        log_model: LogModel = False,
        registered_model_name: str | None = None,
        log_graph: bool = True,
        **init_args: Any,
    ) -> None:
        super().__init__()
        if log_model not in (True, False, "all"):
            checks.fail("log_model", "one_of", f"{log_model!r} is not one of True, False, 'all'")
        from cairn.models import check_registered_name

        self._registered_name = check_registered_name(
            registered_model_name, log_model is not False, "log_model=True or 'all'"
        )
        self._slot = family.RunSlot(run, {"project": project, "name": name, **init_args})
        self._project = project
        self._log_model = log_model
        self._log_graph = log_graph
        self._graph_logged = False
        self._checkpoint_callback: ModelCheckpoint | None = None
        self._logged: dict[str, float] = {}  # checkpoint path -> its mtime when logged
        self._artifacts: dict[str, Artifact] = {}  # checkpoint path -> its artifact
        self._callback: ModelCheckpoint | None = None  # the last one that saved a checkpoint
        self._registered: tuple[str, float] | None = None  # (path, mtime) registered last

    @property
    def experiment(self) -> Run:
        """The run, started on first use; on ranks other than 0, a stand-in that does nothing."""
        if _rank() > 0:
            return cast("Run", _DummyExperiment())
        return self._slot.get()

    @property
    def name(self) -> str:
        """The run's project (a run ended already is not resumed to answer)."""
        if _rank() > 0:
            return self._project or ""
        return (self._slot.peek() or self.experiment).project

    @property
    def version(self) -> str:
        """The run's id (a run ended already is not resumed to answer)."""
        if _rank() > 0:
            return ""
        return (self._slot.peek() or self.experiment).id

    @rank_zero_only
    def log_hyperparams(
        self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any
    ) -> None:
        values = vars(params) if isinstance(params, Namespace) else params
        flat = family.params(values)
        if flat:
            self.experiment.log_params(flat)

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        values = family.metrics(metrics)
        if values:
            self.experiment.log(values, step=step)

    @rank_zero_only
    def log_image(
        self, key: str, images: Sequence[Any], step: int | None = None, **kwargs: Sequence[Any]
    ) -> None:
        """Log images under ``key`` (``run.log_image``, docs/media.md): a list of arrays,
        tensors, PIL images or paths, and ``caption=``, ``boxes=``, ``masks=`` as lists of the
        same length, one per image (as other Lightning loggers take them). ``step`` defaults to
        the step of the latest metrics (Lightning's global step)."""
        items = list(images) if isinstance(images, (list, tuple)) else [images]
        for name, values in kwargs.items():
            if name not in _IMAGE_OPTIONS:
                checks.fail(name, "one_of", f"not one of {', '.join(_IMAGE_OPTIONS)}")
            if len(values) != len(items):
                detail = f"has {len(values)} items but images has {len(items)}"
                checks.fail(name, "equal_lengths", detail)
        for i, image in enumerate(items):
            options = {name: values[i] for name, values in kwargs.items()}
            self.experiment.log_image(key, image, step=step, **options)

    @rank_zero_only
    def log_table(
        self,
        key: str,
        columns: Sequence[str] | None = None,
        data: Sequence[Sequence[Any]] | None = None,
        dataframe: Any = None,
        step: int | None = None,
    ) -> None:
        """Log a table (``run.log_table``): a pandas ``dataframe``, or ``columns`` and ``data``
        (rows, each a list of cells in the columns' order)."""
        if dataframe is not None:
            self.experiment.log_table(key, dataframe, step=step)
            return
        if columns is None or data is None:
            checks.fail("data", "required", "give dataframe=, or columns= and data=")
        rows = [list(row) for row in data]
        for r, row in enumerate(rows):
            if len(row) != len(columns):
                detail = f"has {len(row)} cells but columns has {len(columns)}"
                checks.fail(f"data[{r}]", "equal_lengths", detail)
        table = {str(c): [row[j] for row in rows] for j, c in enumerate(columns)}
        self.experiment.log_table(key, table, step=step)

    @rank_zero_only
    def log_text(self, key: str, text: str, step: int | None = None) -> None:
        """Log a text (``run.log_text``): generated samples, prompts."""
        self.experiment.log_text(key, text, step=step)

    @rank_zero_only
    def log_graph(self, model: Module, input_array: Tensor | None = None) -> None:
        if self._log_graph and not self._graph_logged:
            from cairn.torch import log_model_summary

            log_model_summary(self.experiment, model)
            self._graph_logged = True

    @rank_zero_only
    def after_save_checkpoint(self, checkpoint_callback: ModelCheckpoint) -> None:
        self._callback = checkpoint_callback
        if self._log_model == "all" or (
            self._log_model is True and checkpoint_callback.save_top_k == -1
        ):
            self._log_checkpoints(checkpoint_callback)
        elif self._log_model is True:
            self._checkpoint_callback = checkpoint_callback

    @rank_zero_only
    def finalize(self, status: str) -> None:
        """Lightning's end of ``fit``/``validate``/``test``: ``"success"`` or ``"finished"``
        finishes the logger's own run (after logging the checkpoints ``log_model=True`` waits
        for), ``"failed"`` marks it failed. A run passed in or adopted is left running."""
        if not self._slot.started:
            return
        if status == "failed":
            self._slot.fail()
            return
        if self._checkpoint_callback is not None:
            self._log_checkpoints(self._checkpoint_callback)
            self._checkpoint_callback = None
        self._register_best()
        self._slot.finish()

    def _register_best(self) -> None:
        """With ``registered_model_name``: register the best checkpoint (else the last) as the
        next version of that model, once per checkpoint file written."""
        callback = self._callback
        if not self._registered_name or callback is None:
            return
        path = callback.best_model_path or callback.last_model_path
        artifact = self._artifacts.get(path)
        if artifact is None or self._registered == (path, self._logged[path]):
            return
        from cairn.models import register_logged

        score = callback.best_model_score if path == callback.best_model_path else None
        metadata = {"flavor": "lightning", "monitor": str(callback.monitor or "")}
        if score is not None:
            metadata["score"] = repr(float(score))
        register_logged(self.experiment, artifact, self._registered_name, metadata=metadata)
        self._registered = (path, self._logged[path])

    def _log_checkpoints(self, callback: ModelCheckpoint) -> None:
        """Log the callback's last, best and top-k checkpoint files not logged yet (or rewritten
        since), oldest first."""
        aliases: dict[str, list[str]] = {}
        scores: dict[str, Any] = {}
        for path, top_k_score in callback.best_k_models.items():
            aliases.setdefault(str(path), [])
            scores[str(path)] = top_k_score
        if callback.best_model_path:
            aliases.setdefault(callback.best_model_path, []).append("best")
            scores[callback.best_model_path] = callback.best_model_score
        if callback.last_model_path:
            aliases.setdefault(callback.last_model_path, []).append("last")
            scores.setdefault(callback.last_model_path, callback.current_score)
        files = [(Path(p).stat().st_mtime, p) for p in aliases if Path(p).is_file()]
        run = self.experiment
        for mtime, path in sorted(files):
            if self._logged.get(path) == mtime:
                continue
            score = scores.get(path)
            metadata = {
                "monitor": str(callback.monitor or ""),
                "score": "" if score is None else repr(float(score)),
                "aliases": ",".join(aliases[path]),
            }
            metadata = {k: v for k, v in metadata.items() if v}
            self._artifacts[path] = run.log_artifact(
                path, name=Path(path).name, kind="checkpoint", metadata=metadata
            )
            self._logged[path] = mtime
