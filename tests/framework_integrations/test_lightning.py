"""``cairn.lightning.CairnLogger``: a tiny LightningModule trained on CPU; its hyperparameters,
step metrics, checkpoints and status read back from the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader, TensorDataset

import cairn
from cairn.lightning import CairnLogger
from tests.pipeline import Pipeline, pipeline  # noqa: F401
from tests.support.waiting import eventually

pytestmark = [
    pytest.mark.integration,
    # Lightning's advice for real data loaders; these hold 64 rows.
    pytest.mark.filterwarnings(
        "ignore:The '.*' does not have many workers"
        ":lightning.fabric.utilities.warnings.PossibleUserWarning"
    ),
    # Lightning 2.6 builds torch's deprecated pytree LeafSpec when it sets up evaluation loaders.
    pytest.mark.filterwarnings(
        r"ignore:`isinstance\(treespec, LeafSpec\)` is deprecated:FutureWarning"
    ),
]


class Regressor(lightning.LightningModule):
    def __init__(self, lr: float = 0.05, hidden: int = 8, fail_at_step: int | None = None) -> None:
        super().__init__()
        self.save_hyperparameters({"lr": lr, "hidden": hidden, "data": {"rows": 64}})
        self.net = torch.nn.Sequential(
            torch.nn.Linear(4, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1)
        )
        self.fail_at_step = fail_at_step

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        if self.global_step == self.fail_at_step:
            raise RuntimeError("loss exploded")
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch: list[torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.net(x), y))

    def test_step(self, batch: list[torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        self.log("test_loss", torch.nn.functional.mse_loss(self.net(x), y))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.hparams["lr"])


def loader() -> DataLoader[tuple[torch.Tensor, ...]]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=generator)
    return DataLoader(TensorDataset(x, x.sum(dim=1, keepdim=True)), batch_size=16)


def trainer(tmp_path: Path, logger: CairnLogger, **options: Any) -> lightning.Trainer:
    return lightning.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=logger,
        log_every_n_steps=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        **options,
    )


def test_fit_then_test_records_params_step_metrics_and_best_and_last_checkpoints(
    pipeline: Pipeline,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipeline.configure(monkeypatch, tmp_path, "lightning-fit")
    logger = CairnLogger(
        name="tiny-regressor", log_model=True, registered_model_name="tiny-regressor"
    )
    checkpoints = ModelCheckpoint(monitor="val_loss", save_top_k=1, save_last=True)
    fit = trainer(tmp_path, logger, callbacks=[checkpoints])
    model = Regressor()
    fit.fit(model, loader(), loader())
    fit.test(model, loader())  # the same logger continues the same run

    [run_id] = pipeline.wait_for_runs(project="lightning-fit", count=1, status="finished")
    assert run_id == logger.version
    assert checkpoints.dirpath is not None
    assert Path(checkpoints.dirpath) == tmp_path / "lightning-fit" / run_id / "checkpoints"
    # 4 batches per epoch, 2 epochs. Lightning logs at the number of optimizer steps done before:
    # train_loss at 0..7, val_loss in the last step of each epoch, test_loss after all 8; it adds
    # epoch to every log (one point per step).
    expected_steps = [
        ("epoch", list(range(9))),
        ("test_loss", [8]),
        ("train_loss", list(range(8))),
        ("val_loss", [3, 7]),
    ]
    eventually(
        pipeline,
        "SELECT key, groupArray(step) FROM (SELECT key, step FROM metric_points"
        " WHERE run_id = {r:String} ORDER BY step) GROUP BY key ORDER BY key",
        expected_steps,
        r=run_id,
    )
    [(name, params)] = pipeline.rows(
        "SELECT name, params FROM runs WHERE run_id = {r:String}", r=run_id
    )
    assert name == "tiny-regressor"
    assert params == {
        "lr": "0.05",
        "hidden": "8",
        "data.rows": "64",
        "model.class": "Regressor",
        "model.parameters_total": "49",
        "model.parameters_trainable": "49",
    }
    artifacts = pipeline.rows(
        "SELECT DISTINCT name, kind, metadata['aliases'], metadata['monitor'] FROM artifacts"
        " WHERE run_id = {r:String} ORDER BY name",
        r=run_id,
    )
    best = Path(checkpoints.best_model_path).name
    assert artifacts == sorted(
        [
            (best, "checkpoint", "best", "val_loss"),
            ("last.ckpt", "checkpoint", "last", "val_loss"),
            ("model_summary.txt", "other", "", ""),
        ]
    )
    # registered_model_name: the best checkpoint is version 1 of the model (once, though
    # fit and test both end), built by this run.
    [version] = cairn.model_versions("tiny-regressor")
    assert (version.version, version.run_id, version.artifact_name) == (1, run_id, best)
    assert version.tags["monitor"] == "val_loss"
    assert (
        cairn.use_model("tiny-regressor").read_bytes()
        == Path(checkpoints.best_model_path).read_bytes()
    )


def test_registered_model_name_needs_log_model() -> None:
    with pytest.raises(cairn.errors.ValidationError, match="registered_model_name"):
        CairnLogger(registered_model_name="tiny-regressor")


def test_a_fit_that_raises_marks_the_run_failed_with_the_error(
    pipeline: Pipeline,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipeline.configure(monkeypatch, tmp_path, "lightning-fail")
    logger = CairnLogger(log_model="all")
    with pytest.raises(RuntimeError, match="loss exploded"):
        trainer(tmp_path, logger).fit(Regressor(fail_at_step=2), loader(), loader())

    [run_id] = pipeline.wait_for_runs(project="lightning-fail", count=1, status="failed")
    [(reason,)] = pipeline.rows(
        "SELECT status_reason FROM runs WHERE run_id = {r:String}", r=run_id
    )
    assert "loss exploded" in reason
    eventually(
        pipeline,
        "SELECT groupArray(step) FROM (SELECT step FROM metric_points"
        " WHERE run_id = {r:String} AND key = 'train_loss' ORDER BY step)",
        [([0, 1],)],
        r=run_id,
    )


def test_the_logger_logs_images_tables_and_text_on_its_run(tmp_path: Path) -> None:
    from cairn.v1 import media_pb2
    from tests.sdk.helpers import offline_settings, payloads, spooled_events

    with cairn.init(name="lightning-media", settings=offline_settings(tmp_path)) as run:
        logger = CairnLogger(run=run)
        logger.log_metrics({"loss": 1.0}, step=7)
        images = [torch.rand(3, 8, 8), torch.zeros(3, 8, 8)]
        logger.log_image("val/samples", images, caption=["noise", "black"])
        logger.log_table("val/predictions", columns=["id", "pred"], data=[["a", 1], ["b", 0]])
        logger.log_text("samples", "a generated sentence", step=9)
        with pytest.raises(cairn.errors.ValidationError, match="equal_lengths"):
            logger.log_image("val/samples", images, caption=["only one"])
        assert run.flush(10)
        assert run.spool_dir is not None
        items = [
            i for b in payloads(spooled_events(run.spool_dir), "media_logged") for i in b.items
        ]
    kinds = [(i.key, i.step, i.index, media_pb2.MediaKind.Name(i.kind)) for i in items]
    assert kinds == [
        ("val/samples", 7, 0, "MEDIA_KIND_IMAGE"),
        ("val/samples", 7, 1, "MEDIA_KIND_IMAGE"),
        ("val/predictions", 7, 0, "MEDIA_KIND_TABLE"),
        ("samples", 9, 0, "MEDIA_KIND_TEXT"),
    ]
    assert [i.caption for i in items[:2]] == ["noise", "black"]
    assert (items[0].width, items[0].height) == (8, 8)
    assert list(items[2].table.columns) == ["id", "pred"]
    assert [c.text for c in (r.cells[0] for r in items[2].table.rows)] == ["a", "b"]
