"""``cairn reproduce`` through the real write path (ingest, Kafka, processors, ClickHouse): a
training script in a git repository made here, with a committed and an uncommitted change, run
once in a small virtualenv of its own; then reproduced in a fresh directory from what the store
recorded (code from the commit plus the patch, a new virtualenv from the recorded packages, the
dataset checked by digest), compared at every step; a changed dataset refused naming its digest;
and a ``--set lr=...`` override reported with its deviation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cairn.errors import FailedPreconditionError, NotFoundError
from cairn.reproduce import (
    TAG_OVERRIDES,
    TAG_REPRODUCES,
    ReproduceOptions,
    RunRecord,
    build_plan,
    execute,
    format_report,
)
from cairn.reproduce._environment import _uv
from query.access import Caller
from query.reproduction import (
    data_changed_since,
    metric_points,
    recorded_run,
    reproduction_links,
    reproduction_report,
)
from tests.pipeline import Pipeline

PROJECT = "reproduce"
REPO_ROOT = Path(__file__).resolve().parents[2]

TRAIN = """\
import argparse

import numpy as np

import cairn

parser = argparse.ArgumentParser()
parser.add_argument("--data", required=True)
args = parser.parse_args()

run = cairn.init(name="linreg", config={"lr": 0.05, "seed": 7, "epochs": 6, "l2": L2})
config = run.config
run.use_dataset(args.data, name="train")
table = np.loadtxt(args.data, delimiter=",")
x, y = table[:, :-1], table[:, -1]
w = np.random.default_rng(config["seed"]).normal(size=x.shape[1])
for step in range(config["epochs"]):
    error = x @ w - y
    loss = float(np.mean(error**2) + config["l2"] * np.sum(w**2))
    w = w - config["lr"] * (2 * x.T @ error / len(y) + 2 * config["l2"] * w)
    run.log({"loss": loss, "w0": float(w[0])}, step=step)
run.finish()
"""


class QueryLayerSource:
    """A RunRecordSource over ``query/reproduction.py`` (what the query service's GetRun serves)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def get_run(self, run_id: str) -> RunRecord:
        return recorded_run(self.pipeline.client(), self.pipeline.caller, run_id)

    def metric_points(self, run_id: str) -> dict[str, list[tuple[int, float]]]:
        return metric_points(self.pipeline.client(), self.pipeline.caller, run_id)


def _git(repo: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@e"}
    env |= {"GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@e"}
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def _small_venv(target: Path) -> Path:
    """The original author's environment: numpy and the SDK, nothing else (built with the uv
    the dev install puts beside the test's interpreter, or one on PATH)."""
    uv = _uv()
    assert uv is not None, "uv is part of the dev install (make dev-venv)"
    subprocess.run(
        [uv, "venv", "--quiet", "--seed", "--python", sys.executable, str(target)], check=True
    )
    python = target / "bin" / "python"
    numpy = __import__("numpy").__version__
    local = ["-e", str(REPO_ROOT / "contract"), "-e", str(REPO_ROOT / "sdk")]
    install = [uv, "pip", "install", "--quiet", "--python", str(python), f"numpy=={numpy}"]
    subprocess.run([*install, *local], check=True)
    return python


@pytest.fixture(scope="module")
def original(
    pipeline: Pipeline, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path, Path]:
    """(run id, repository, dataset file) of the original run."""
    home = tmp_path_factory.mktemp("author")
    repo = home / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "train.py").write_text(TRAIN.replace("L2", "0.01"))
    _git(repo, "add", "train.py")
    _git(repo, "commit", "-q", "-m", "linear regression")
    (repo / "train.py").write_text(TRAIN.replace("L2", "0.002"))  # uncommitted: changes results
    data = home / "data" / "train.csv"
    data.parent.mkdir()
    rows = [
        f"{i / 10:.1f},{(i % 7) / 7:.4f},{2 * i / 10 - (i % 7) / 14 + 1:.4f}" for i in range(40)
    ]
    data.write_text("\n".join(rows) + "\n")
    python = _small_venv(home / "venv")
    env = {**os.environ, **pipeline.env(home, PROJECT), "CAIRN_CAPTURE_OFF": "gpu,system_metrics"}
    env.pop("PYTHONPATH", None)
    subprocess.run([str(python), "train.py", "--data", str(data)], cwd=repo, env=env, check=True)
    (run_id,) = pipeline.wait_for_runs(project=PROJECT, count=1, status="finished")
    return run_id, repo, data


@pytest.fixture
def reproducer_env(pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The person reproducing: the same stack, capture on (as for any user)."""
    pipeline.configure(monkeypatch, tmp_path, PROJECT)
    monkeypatch.setenv("CAIRN_CAPTURE_OFF", "gpu,system_metrics")


@pytest.mark.usefixtures("reproducer_env")
def test_a_reproduction_in_a_fresh_directory_is_identical_at_every_step_with_lineage(
    pipeline: Pipeline, original: tuple[str, Path, Path], tmp_path: Path
) -> None:
    run_id, repo, _ = original
    source = QueryLayerSource(pipeline)
    record = source.get_run(run_id)
    assert record.code is not None
    assert record.code.dirty
    assert record.packages["numpy"] == __import__("numpy").__version__
    options = ReproduceOptions(workdir=tmp_path / "fresh", env="venv", repo=str(repo))
    plan = build_plan(record, options)
    assert plan.refusals == ()
    result = execute(plan, source, say=lambda line: None)
    assert result.exit_code == 0
    assert result.environment is not None
    assert result.environment.substitutions == ()
    report = result.report
    assert report.verdict == "identical", format_report(report)
    first = source.metric_points(run_id)
    again = source.metric_points(result.run_id)
    assert set(first) == {"loss", "w0"}
    assert again == first  # every step, exactly
    assert len(first["loss"]) == 6
    links = reproduction_links(pipeline.client(), pipeline.caller, result.run_id)
    assert links.reproduces == (run_id,)
    assert reproduction_links(pipeline.client(), pipeline.caller, run_id).reproduced_by == (
        result.run_id,
    )
    assert source.get_run(result.run_id).tags[TAG_REPRODUCES] == run_id
    stored = reproduction_report(pipeline.client(), pipeline.caller, run_id, result.run_id)
    assert stored.verdict == "identical"
    assert stored == report  # the portal and cairn diff show what cairn reproduce printed


def test_another_teams_caller_cannot_read_the_record_or_points(
    pipeline: Pipeline, original: tuple[str, Path, Path]
) -> None:
    outsider = Caller("mallory", frozenset({"other-team"}))
    with pytest.raises(NotFoundError):
        recorded_run(pipeline.client(), outsider, original[0])
    with pytest.raises(NotFoundError):
        metric_points(pipeline.client(), outsider, original[0])


@pytest.mark.usefixtures("reproducer_env")
def test_a_changed_dataset_is_refused_with_its_digest(
    pipeline: Pipeline, original: tuple[str, Path, Path], tmp_path: Path
) -> None:
    run_id, repo, data = original
    source = QueryLayerSource(pipeline)
    record = source.get_run(run_id)
    (recorded,) = record.inputs
    saved = data.read_bytes()
    data.write_bytes(saved.replace(b"0.0,", b"0.5,", 1))
    try:
        plan = build_plan(record, ReproduceOptions(workdir=tmp_path / "w", repo=str(repo)))
        with pytest.raises(FailedPreconditionError) as refused:
            execute(plan, source, say=lambda line: None)
    finally:
        data.write_bytes(saved)
    message = str(refused.value)
    assert f"recorded {recorded.digest}" in message
    assert plan.data[0].current_digest in message
    assert "differing files: train.csv" in message
    assert data_changed_since(pipeline.client(), pipeline.caller, run_id) == ()
    assert not (tmp_path / "w").exists()


@pytest.mark.usefixtures("reproducer_env")
def test_set_lr_makes_a_run_whose_report_names_the_override_and_the_deviation(
    pipeline: Pipeline, original: tuple[str, Path, Path], tmp_path: Path
) -> None:
    run_id, repo, _ = original
    source = QueryLayerSource(pipeline)
    options = ReproduceOptions(
        workdir=tmp_path / "w", env="current", repo=str(repo), overrides={"lr": "0.1"}
    )
    result = execute(build_plan(source.get_run(run_id), options), source, say=lambda _: None)
    report = result.report
    assert [(c.what, c.original, c.reproduction) for c in report.params] == [("lr", "0.05", "0.1")]
    loss = next(m for m in report.metrics if m.key == "loss")
    assert loss.steps_compared == 6
    assert loss.max_step_deviation > 0
    assert report.verdict.startswith("differs: metrics deviate (loss, w0); params differ (lr)")
    text = format_report(report)
    assert "lr: 0.05 -> 0.1" in text
    assert f"max deviation {loss.max_step_deviation:.3g} over 6 steps" in text
    tags = source.get_run(result.run_id).tags
    assert tags[TAG_OVERRIDES] == "lr=0.1 (was 0.05)"
