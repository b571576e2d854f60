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
- sample predictions, with ``samples=`` a few examples (at most 10,000): after every evaluation,
  the model's outputs on them as one table under ``samples_key`` (default
  ``samples/predictions``) at ``state.global_step``. Examples are dataset items (dicts of
  tensors, as the Trainer's datasets give them, with ``labels`` when known) or texts (encoded
  with the Trainer's ``processing_class``). A classifier gives a row per example with
  ``example``, ``input`` (decoded by the tokenizer, else the token ids), ``label``,
  ``prediction`` (named by ``class_names`` or ``config.id2label``), ``confidence`` and
  ``correct``; a language model (per-token logits) gives ``example``, ``input`` and ``output``,
  its greedy continuation of up to ``samples_max_new_tokens`` tokens. Rows are queryable across
  runs in ``cairn_reporting.table_rows``. If predicting fails, a warning says why and training
  goes on without samples;
- with ``log_model=True``, the final model (``model.save_pretrained``, with the tokenizer or
  processor the Trainer holds) as the directory artifact ``model`` (kind ``model``); with
  ``registered_model_name="churn"`` as well, registered as the next version of model ``churn``.

Runs: see ``_torch_family.RunSlot``; ``TrainingArguments.run_name`` names a run the callback
starts. A run it started is finished when training ends. Only the main process records.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn import _checks as checks
from cairn import _samples as sampling
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
        samples: Sequence[Any] | None = None,
        samples_key: str = sampling.DEFAULT_KEY,
        class_names: Sequence[str] | Mapping[int, str] | None = None,
        samples_max_new_tokens: int = 32,
        **init_args: Any,
    ) -> None:
        from cairn.models import check_registered_name

        if samples is not None:
            sampling.check_count(len(samples), "samples")
        self._samples = list(samples) if samples is not None else None
        self._samples_key = checks.check_key(samples_key, "samples_key")
        self._class_names = class_names
        self._max_new_tokens = sampling.check_every(
            samples_max_new_tokens, "samples_max_new_tokens"
        )

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

    def on_evaluate(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        model: Any = None,
        processing_class: Any = None,
        **kwargs: Any,
    ) -> None:
        if self._samples is None or model is None or not state.is_world_process_zero:
            return
        try:
            rows = _sample_rows(model, processing_class, self._samples, self._class_names,
                                self._max_new_tokens)  # fmt: skip
            run = self._slot.get(default_name=args.run_name)
            run.log_table(self._samples_key, rows, step=state.global_step)
        except Exception as error:
            warnings.warn(
                f"cairn: sample predictions not logged, and no longer tried ({error})",
                RuntimeWarning, stacklevel=2,
            )  # fmt: skip
            self._samples = None

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


def _sample_rows(
    model: Any,
    tokenizer: Any,
    samples: list[Any],
    class_names: Sequence[str] | Mapping[int, str] | None,
    max_new_tokens: int,
) -> list[dict[str, Any]]:
    """The samples table's rows (see the module docstring), with the model in eval mode."""
    import torch

    labels = None
    texts: list[str] | None
    if all(isinstance(sample, str) for sample in samples):
        if tokenizer is None:
            raise ValueError("text samples need the Trainer's processing_class to encode them")
        inputs = dict(tokenizer(samples, padding=True, truncation=True, return_tensors="pt"))
        texts = [str(sample) for sample in samples]
    else:
        items = [dict(sample) for sample in samples]
        if all("labels" in item for item in items):
            labels = torch.stack([torch.as_tensor(item.pop("labels")) for item in items]).numpy()
        inputs = {k: torch.stack([torch.as_tensor(item[k]) for item in items]) for k in items[0]}
        texts = [_decoded(tokenizer, ids) for ids in inputs.get("input_ids", [])] or None
    inputs = {name: value.to(model.device) for name, value in inputs.items()}
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits = model(**inputs).logits.float().cpu().numpy()
            if logits.ndim == 3:  # per-token scores: a language model, so show what it writes
                return _continuations(model, tokenizer, inputs, texts, max_new_tokens)
    finally:
        model.train(was_training)
    names = class_names or getattr(getattr(model, "config", None), "id2label", None)
    return sampling.prediction_rows(logits, labels, names, texts)


def _continuations(
    model: Any, tokenizer: Any, inputs: dict[str, Any], texts: list[str] | None, new_tokens: int
) -> list[dict[str, Any]]:
    if tokenizer is None:
        raise ValueError("a language model's samples need the Trainer's processing_class")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    generated = model.generate(**inputs, max_new_tokens=new_tokens, do_sample=False,
                               pad_token_id=pad)  # fmt: skip
    if not getattr(model.config, "is_encoder_decoder", False):
        generated = generated[:, inputs["input_ids"].shape[1] :]  # only what was added
    outputs = tokenizer.batch_decode(generated, skip_special_tokens=True)
    shown = texts or [""] * len(outputs)
    return [
        {"example": index, "input": text, "output": output}
        for index, (text, output) in enumerate(zip(shown, outputs, strict=True))
    ]


def _decoded(tokenizer: Any, ids: Any) -> str:
    """An example's text: decoded by the tokenizer, else its token ids."""
    if tokenizer is not None and hasattr(tokenizer, "decode"):
        return str(tokenizer.decode(ids, skip_special_tokens=True))
    return " ".join(str(int(i)) for i in ids)
