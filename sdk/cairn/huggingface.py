"""Hugging Face Transformers: :class:`CairnCallback` records a ``Trainer`` run.

::

    trainer = Trainer(model=model, args=TrainingArguments(..., report_to="none"),
                      train_dataset=train, callbacks=[cairn.huggingface.CairnCallback()])
    trainer.train()

What lands on the run:

- params: the ``TrainingArguments`` under their own names (``learning_rate``,
  ``per_device_train_batch_size``, ``num_train_epochs`` ...; names that look like credentials,
  such as ``hub_token``, are left out), and the model's configuration as ``model.<key>`` with
  ``model.class``, ``model.parameters_total`` and ``model.parameters_trainable``;
- metrics: every log the Trainer emits, under the names it uses (``loss``, ``grad_norm``,
  ``learning_rate``, ``epoch``, ``eval_loss``, ``train_runtime``, ``train_loss`` ...), at
  ``state.global_step``; text values are dropped;
- with ``log_model=True``, the final model (``model.save_pretrained``, with the tokenizer or
  processor the Trainer holds) as the directory artifact ``model`` (kind ``model``); with
  ``registered_model_name="churn"`` as well, registered as the next version of model ``churn``.

Runs: see ``_torch_family.RunSlot``; ``TrainingArguments.run_name`` names a run the callback
starts. A run it started is finished when training ends. Only the main process records.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn import _torch_family as family

try:
    from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments
except ImportError as error:
    raise family.missing(
        "Hugging Face Transformers (for cairn.huggingface)", "transformers", error
    ) from error

if TYPE_CHECKING:
    from cairn.run import Run

__all__ = ["CairnCallback"]

MODEL_ARTIFACT = "model"


class CairnCallback(TrainerCallback):
    """A ``TrainerCallback`` writing to a Cairn run.

    ``project``, ``name`` and ``init_args`` (any other :func:`cairn.init` keyword) start the
    callback's own run when training begins; ``run`` records into an existing one.
    """

    def __init__(
        self,
        project: str | None = None,
        name: str | None = None,
        *,
        run: Run | None = None,
        log_model: bool = False,
        registered_model_name: str | None = None,
        **init_args: Any,
    ) -> None:
        from cairn.models import check_registered_name

        self._registered_name = check_registered_name(
            registered_model_name, log_model, "log_model=True"
        )
        self._slot = family.RunSlot(run, {"project": project, "name": name, **init_args})
        self._log_model = log_model
        self._described = False

    @property
    def run(self) -> Run | None:
        """The run the callback records into; None until training starts."""
        return self._slot.peek()

    def on_train_begin(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        model: Any = None,
        **kwargs: Any,
    ) -> None:
        if not state.is_world_process_zero:
            return
        run = self._slot.get(default_name=args.run_name)
        if self._described:
            return
        self._described = True
        values = family.params(args.to_dict())  # type: ignore[no-untyped-call]
        config = getattr(model, "config", None)
        if config is not None:
            values.update(family.params(config.to_dict(), "model"))
        if model is not None:
            values["model.class"] = type(model).__name__
            parameters = list(model.parameters())
            values["model.parameters_total"] = sum(p.numel() for p in parameters)
            values["model.parameters_trainable"] = sum(
                p.numel() for p in parameters if p.requires_grad
            )
        run.log_params(values)

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if not state.is_world_process_zero or not logs:
            return
        values = family.metrics(logs)
        if values:
            self._slot.get(default_name=args.run_name).log(values, step=state.global_step)

    def on_train_end(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        model: Any = None,
        processing_class: Any = None,
        **kwargs: Any,
    ) -> None:
        if not state.is_world_process_zero:
            return
        if self._log_model and model is not None:
            with tempfile.TemporaryDirectory(prefix="cairn-") as directory:
                model.save_pretrained(directory)
                if processing_class is not None and hasattr(processing_class, "save_pretrained"):
                    processing_class.save_pretrained(directory)
                run = self._slot.get(default_name=args.run_name)
                artifact = run.log_artifact(Path(directory), name=MODEL_ARTIFACT, kind="model")
                if self._registered_name:
                    from cairn.models import register_logged

                    metadata = {"flavor": "transformers", "model_class": type(model).__name__}
                    register_logged(run, artifact, self._registered_name, metadata=metadata)
        self._slot.finish()
