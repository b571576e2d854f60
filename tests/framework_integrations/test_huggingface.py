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
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    GPT2Config,
    GPT2LMHeadModel,
    PreTrainedTokenizerFast,
    Trainer,
    TrainingArguments,
)

import cairn
from cairn.huggingface import CairnCallback
from query.media import media_at, table_at
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


def _tiny_bert() -> BertForSequenceClassification:
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=16,
        id2label={0: "absent", 1: "present"}, label2id={"absent": 0, "present": 1},
    )  # fmt: skip
    return BertForSequenceClassification(config)  # type: ignore[no-untyped-call]


def _args(tmp_path: Path, name: str) -> TrainingArguments:
    return TrainingArguments(
        output_dir=str(tmp_path / "out"), run_name=name, num_train_epochs=2,
        per_device_train_batch_size=8, per_device_eval_batch_size=8, learning_rate=1e-3,
        logging_steps=4, eval_strategy="epoch", save_strategy="no", report_to="none",
        use_cpu=True, disable_tqdm=True,
    )  # fmt: skip


def _table(store: Pipeline, run_id: str, step: int) -> list[dict[str, object]]:
    client = store.client()
    (item,) = media_at(client, store.caller, [run_id], "samples/predictions", step)
    return table_at(client, store.caller, item).to_dict("records")  # type: ignore[no-any-return]


def test_samples_log_the_classifier_predictions_named_by_id2label_after_every_evaluation(
    pipeline: Pipeline,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipeline.configure(monkeypatch, tmp_path, "hf-samples")
    examples = Sequences(4)
    callback = CairnCallback(samples=[examples[i] for i in range(4)])
    trainer = Trainer(
        model=_tiny_bert(), args=_args(tmp_path, "bert-samples"), train_dataset=Sequences(),
        eval_dataset=Sequences(16), callbacks=[callback],
    )  # fmt: skip
    trainer.train()

    [run_id] = pipeline.wait_for_runs(project="hf-samples", count=1, status="finished")
    eventually(
        pipeline,
        "SELECT key, groupArray(step) FROM (SELECT key, step FROM media_items"
        " WHERE run_id = {r:String} ORDER BY step) GROUP BY key",
        [("samples/predictions", [4, 8])],  # evaluated after each epoch's 4 steps
        r=run_id,
    )
    for step in (4, 8):
        rows = _table(pipeline, run_id, step)
        assert [row["example"] for row in rows] == [0, 1, 2, 3]
        # No tokenizer in this Trainer: the input is shown as its token ids.
        assert rows[0]["input"] == " ".join(str(int(i)) for i in examples[0]["input_ids"])
        assert [row["label"] for row in rows] == [
            "present" if examples[i]["labels"] else "absent" for i in range(4)
        ]
        assert {row["prediction"] for row in rows} <= {"absent", "present"}
        assert all(0.5 <= float(row["confidence"]) <= 1 for row in rows)  # type: ignore[arg-type]


def test_samples_of_a_language_model_are_its_greedy_continuations_of_text_prompts(
    pipeline: Pipeline,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A two-layer GPT-2 from a config and a word-level tokenizer made here (nothing
    downloaded): prompts in, the continuation the model writes out, after each evaluation."""
    pipeline.configure(monkeypatch, tmp_path, "hf-generate")
    words = ["[PAD]", "[UNK]", "the", "cat", "sat", "on", "mat", "a", "dog", "ran"]
    tokenizer_model = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, "[UNK]"))
    tokenizer_model.pre_tokenizer = pre_tokenizers.Whitespace()  # type: ignore[assignment]
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer_model, pad_token="[PAD]", unk_token="[UNK]"
    )
    tokenizer.padding_side = "left"  # a decoder continues the prompt's end
    torch.manual_seed(0)
    model = GPT2LMHeadModel(
        GPT2Config(vocab_size=len(words), n_positions=32, n_embd=16, n_layer=2, n_head=2)
    )  # type: ignore[no-untyped-call]

    class Texts(torch.utils.data.Dataset[dict[str, torch.Tensor]]):
        def __init__(self) -> None:
            self.ids = torch.tensor([[2, 3, 4, 5, 2, 6]] * 16)

        def __len__(self) -> int:
            return len(self.ids)

        def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
            return {"input_ids": self.ids[index], "labels": self.ids[index]}

    prompts = ["the cat sat", "a dog ran"]
    callback = CairnCallback(samples=prompts, samples_max_new_tokens=3)
    trainer = Trainer(
        model=model, args=_args(tmp_path, "gpt-samples"), train_dataset=Texts(),
        eval_dataset=Texts(), processing_class=tokenizer, callbacks=[callback],
    )  # fmt: skip
    trainer.train()

    [run_id] = pipeline.wait_for_runs(project="hf-generate", count=1, status="finished")
    eventually(
        pipeline,
        "SELECT count() FROM media_items WHERE run_id = {r:String} AND kind = 'table'",
        [(2,)],
        r=run_id,
    )
    rows = _table(pipeline, run_id, 4)
    assert [(row["example"], row["input"]) for row in rows] == [(0, prompts[0]), (1, prompts[1])]
    for row in rows:
        written = str(row["output"]).split()
        assert 1 <= len(written) <= 3, row
        assert set(written) <= set(words[2:]), row


def test_samples_are_checked_when_the_callback_is_made() -> None:
    with pytest.raises(cairn.errors.ValidationError, match=r"samples.*at least one"):
        CairnCallback(samples=[])
    with pytest.raises(cairn.errors.ValidationError, match=r"samples_max_new_tokens"):
        CairnCallback(samples=["hi"], samples_max_new_tokens=0)
