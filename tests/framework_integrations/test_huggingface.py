"""``cairn.huggingface.CairnCallback``: a one-layer BERT (built from a config, nothing
downloaded) trained with ``Trainer`` on CPU; its arguments, logs and final model read back from
the store."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # nothing in this module may reach the internet
os.environ["TRANSFORMERS_OFFLINE"] = "1"

from pathlib import Path

import pytest
import torch
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    Trainer,
    TrainingArguments,
)

import cairn
from cairn.huggingface import CairnCallback
from tests.pipeline import Pipeline, pipeline  # noqa: F401
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


class Sequences(torch.utils.data.Dataset[dict[str, torch.Tensor]]):
    """32 random token sequences; the label is whether token 1 appears."""

    def __init__(self, rows: int = 32) -> None:
        generator = torch.Generator().manual_seed(0)
        self.ids = torch.randint(2, 64, (rows, 8), generator=generator)
        self.ids[::2, 3] = 1
        self.labels = (self.ids == 1).any(dim=1).long()

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {
            "input_ids": self.ids[index],
            "attention_mask": torch.ones(8, dtype=torch.long),
            "labels": self.labels[index],
        }


def test_trainer_records_arguments_logs_at_global_steps_and_the_final_model(
    pipeline: Pipeline,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipeline.configure(monkeypatch, tmp_path, "hf-trainer")
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=64,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=16,
    )
    args = TrainingArguments(
        output_dir=str(tmp_path / "out"),
        run_name="tiny-bert",
        num_train_epochs=2,
        per_device_train_batch_size=8,
        per_device_eval_batch_size=8,
        learning_rate=1e-3,
        logging_steps=1,
        eval_strategy="epoch",
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        hub_token="hf_not_a_real_token",
    )
    model = BertForSequenceClassification(config)  # type: ignore[no-untyped-call]
    callback = CairnCallback(log_model=True, registered_model_name="tiny-bert")
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=Sequences(),
        eval_dataset=Sequences(16),
        callbacks=[callback],
    )
    trainer.train()

    [run_id] = pipeline.wait_for_runs(project="hf-trainer", count=1, status="finished")
    assert callback.run is not None
    assert run_id == callback.run.id
    # 32 rows in batches of 8 for 2 epochs: 8 optimizer steps, evaluated after steps 4 and 8.
    eventually(
        pipeline,
        "SELECT key, groupArray(step) FROM (SELECT key, step FROM metric_points"
        " WHERE run_id = {r:String} AND key IN ('loss', 'learning_rate', 'eval_loss',"
        " 'train_loss', 'train_runtime') ORDER BY step) GROUP BY key ORDER BY key",
        [
            ("eval_loss", [4, 8]),
            ("learning_rate", list(range(1, 9))),
            ("loss", list(range(1, 9))),
            ("train_loss", [8]),
            ("train_runtime", [8]),
        ],
        r=run_id,
    )
    [(name, params)] = pipeline.rows(
        "SELECT name, params FROM runs WHERE run_id = {r:String}", r=run_id
    )
    assert name == "tiny-bert"
    assert {
        key: params[key]
        for key in (
            "learning_rate",
            "num_train_epochs",
            "per_device_train_batch_size",
            "model.hidden_size",
            "model.num_hidden_layers",
            "model.class",
        )
    } == {
        "learning_rate": "0.001",
        "num_train_epochs": "2",
        "per_device_train_batch_size": "8",
        "model.hidden_size": "16",
        "model.num_hidden_layers": "1",
        "model.class": "BertForSequenceClassification",
    }
    assert int(params["model.parameters_total"]) == sum(p.numel() for p in model.parameters())
    assert "hub_token" not in params
    assert not any("hf_not_a_real_token" in value for value in params.values())
    artifacts = pipeline.rows(
        "SELECT DISTINCT name, kind FROM artifacts WHERE run_id = {r:String}", r=run_id
    )
    assert artifacts == [("model", "model")]
    # registered_model_name: the saved directory is version 1 of the model, built by this run.
    [version] = cairn.model_versions("tiny-bert")
    assert (version.version, version.run_id, version.artifact_name) == (1, run_id, "model")
    assert version.tags["model_class"] == "BertForSequenceClassification"
    restored = BertForSequenceClassification.from_pretrained(cairn.use_model("tiny-bert"))
    assert sum(p.numel() for p in restored.parameters()) == int(params["model.parameters_total"])
