"""What the framework integrations share: framework names and values repaired into valid keys,
metrics and params (never an error in the middle of training), and which run they record into."""

from __future__ import annotations

import math
import subprocess
import sys
from argparse import Namespace
from pathlib import Path

import pytest
import torch

import cairn
from cairn import _torch_family as family
from cairn.torch import summarize


def test_keys_keep_valid_names_and_replace_what_cairn_rejects() -> None:
    assert family.key("val/loss_epoch") == "val/loss_epoch"
    assert family.key("layers.0.weight") == "layers.0.weight"
    assert family.key("acc (top 5)") == "acc__top_5_"
    assert family.key("a..b.") == "a._.b._"
    assert len(family.key("x" * 400)) == 250


def test_metrics_keep_numbers_and_drop_text_none_and_arrays() -> None:
    logs = {
        "loss": 0.5,
        "step": 3,
        "nan": float("nan"),
        "tensor": torch.tensor(2.0),
        "stage": "train",
        "none": None,
        "vector": torch.ones(3),
        "nested": {"acc": 1},
        "bad key!": 1.0,
    }
    found = family.metrics(logs, "batch/")
    assert math.isnan(found.pop("batch/nan"))
    assert found == {
        "batch/loss": 0.5,
        "batch/step": 3.0,
        "batch/tensor": 2.0,
        "batch/nested.acc": 1.0,
        "batch/bad_key_": 1.0,
    }


def test_params_flatten_drop_credentials_and_turn_everything_else_into_text() -> None:
    config = {
        "learning_rate": 1e-3,
        "hub_token": "<HUB_TOKEN>",
        "api_key": "k",
        "db_password": "p",
        "pad_token_id": 0,
        "max_new_tokens": 8,
        "layers": [64, 32],
        "long": list(range(100)),
        "empty": {},
        "path": Path("/data"),
        "dtype": torch.float32,
        "label2id": {"positive review": 1},
        "text": "a\x00b",
    }
    assert family.params(config, "model") == {
        "model.learning_rate": 1e-3,
        "model.pad_token_id": 0,
        "model.max_new_tokens": 8,
        "model.layers.0": 64,
        "model.layers.1": 32,
        "model.long": str(list(range(100))),
        "model.empty": "{}",
        "model.path": "/data",
        "model.dtype": "torch.float32",
        "model.label2id.positive_review": 1,
        "model.text": "a\ufffdb",
    }


def test_params_beyond_the_depth_limit_are_recorded_as_text() -> None:
    deep: dict[str, object] = {"leaf": 1}
    for _ in range(12):
        deep = {"d": deep}
    flat = family.params(deep)
    [(key, value)] = flat.items()
    assert key.count(".") == 8
    assert isinstance(value, str)
    assert "leaf" in value


def test_a_namespace_is_accepted_like_a_mapping() -> None:
    assert family.params(vars(Namespace(lr=0.1))) == {"lr": 0.1}


def test_the_model_summary_counts_parameters_and_lists_them() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    model[2].bias.requires_grad_(False)
    summary = summarize(model)
    assert (summary.parameters_total, summary.parameters_trainable) == (49, 48)
    assert summary.text.startswith("Sequential: 49 parameters (48 trainable)")
    assert "(0): Linear(in_features=4, out_features=8, bias=True)" in summary.text
    assert "0.weight" in summary.text
    assert "2.bias" in summary.text


@pytest.mark.parametrize(
    ("module", "framework", "extra"),
    [
        ("cairn.torch", "torch", "torch"),
        ("cairn.lightning", "lightning", "lightning"),
        ("cairn.keras", "keras", "keras"),
        ("cairn.huggingface", "transformers", "transformers"),
    ],
)
def test_without_its_framework_an_integration_names_the_extra_to_install(
    module: str, framework: str, extra: str
) -> None:
    code = (
        f"import sys; sys.modules[{framework!r}] = None\n"  # what a missing package looks like
        f"import cairn\n"
        f"try:\n    cairn.{module.removeprefix('cairn.')}\n"
        f"except ImportError as error:\n    print(error)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert f"pip install 'cairn-sdk[{extra}]'" in done.stdout


# -- which run an integration records into (disabled runs: nothing leaves the process) -------


@pytest.fixture
def disabled(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CAIRN_MODE", "disabled")
    monkeypatch.setenv("CAIRN_TEAM", "t")
    monkeypatch.setenv("CAIRN_DIR", str(tmp_path))
    monkeypatch.setenv("CAIRN_LOCAL_STACK_FILE", str(tmp_path / "none.json"))


@pytest.mark.usefixtures("disabled")
def test_a_given_run_is_used_and_never_finished() -> None:
    run = cairn.init(project="p")
    slot = family.RunSlot(run, {"project": "other"})
    assert slot.get() is run
    slot.finish()
    assert run.status == "running"
    run.finish()


@pytest.mark.usefixtures("disabled")
def test_without_arguments_the_active_run_is_adopted() -> None:
    with cairn.init(project="p") as run:
        slot = family.RunSlot(None, {"project": None, "name": None})
        assert slot.get() is run
        slot.finish()
        assert run.status == "running"


@pytest.mark.usefixtures("disabled")
def test_with_arguments_a_run_of_its_own_is_started_finished_and_resumed() -> None:
    with cairn.init(project="p") as outer:
        slot = family.RunSlot(None, {"project": "q", "name": "own"})
        own = slot.get(default_name="ignored")
        assert own is not outer
        assert (own.project, own.name) == ("q", "own")
        slot.finish()
        assert own.status == "finished"
        again = slot.get()
        assert again.id == own.id
        assert again.status == "running"
        again.finish()


@pytest.mark.usefixtures("disabled")
def test_fail_records_the_exception_being_handled() -> None:
    slot = family.RunSlot(None, {"project": "p"})
    run = slot.get()
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        slot.fail()
    assert run.status == "failed"
