"""``cairn.torch.watch``: a tiny model trained on CPU, its gradient and weight summaries and
histograms read back from the store at the watched steps."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import cairn
import cairn.torch
from tests.pipeline import Pipeline, pipeline  # noqa: F401
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

PARAMETERS = {"0.weight": 32, "0.bias": 8, "2.weight": 8, "2.bias": 1}  # name -> element count


def train(model: torch.nn.Module, run: cairn.Run, steps: int) -> None:
    torch.manual_seed(0)
    x, y = torch.randn(32, 4), torch.randn(32, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        run.log({"loss": loss.item()})  # automatic steps: watch must not shift them


def test_watch_records_gradient_and_weight_summaries_every_log_freq_passes(
    pipeline: Pipeline,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipeline.configure(monkeypatch, tmp_path, "torch-watch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    with cairn.init(name="watched") as run:
        cairn.torch.watch(model, log="all", log_freq=2)
        train(model, run, steps=5)  # passes 0..4: recorded at 0, 2 and 4
        cairn.torch.unwatch(model)
        train(model, run, steps=3)  # passes 5..7 of the loop, not watched any more
    [run_id] = pipeline.wait_for_runs(project="torch-watch", count=1, status="finished")

    keys = [
        f"{kind}/{name}/{stat}"
        for kind in ("gradients", "parameters")
        for name in PARAMETERS
        for stat in ("norm", "mean", "std")
    ]
    eventually(
        pipeline,
        "SELECT count() FROM metric_points WHERE run_id = {r:String}",
        [(len(keys) * 3 + 8,)],
        r=run_id,
    )
    steps = dict(
        pipeline.rows(
            "SELECT key, groupArray(step) FROM (SELECT key, step FROM metric_points"
            " WHERE run_id = {r:String} ORDER BY step) GROUP BY key",
            r=run_id,
        )
    )
    assert steps.pop("loss") == list(range(8))
    assert steps == {key: [0, 2, 4] for key in keys}

    [(params,)] = pipeline.rows("SELECT params FROM runs WHERE run_id = {r:String}", r=run_id)
    assert params == {
        "model.class": "Sequential",
        "model.parameters_total": "49",
        "model.parameters_trainable": "49",
    }
    artifacts = pipeline.rows(
        "SELECT DISTINCT name, kind FROM artifacts WHERE run_id = {r:String}", r=run_id
    )
    assert artifacts == [("model_summary.txt", "other")]

    # One histogram per watched tensor and recorded step, 64 bins holding every (finite) value.
    expected = sorted(
        (f"{kind}/{name}", step, 64, count)
        for kind in ("gradients", "parameters")
        for name, count in PARAMETERS.items()
        for step in (0, 2, 4)
    )
    eventually(
        pipeline,
        "SELECT key, step, length(counts), arraySum(counts) FROM histogram_steps"
        " WHERE run_id = {r:String} ORDER BY key, step",
        expected,
        r=run_id,
    )
