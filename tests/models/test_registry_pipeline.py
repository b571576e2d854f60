"""The model registry through the real stack: SDK -> ingest -> Kafka -> processors ->
ClickHouse, read back through the query service (``cairn.v1.Query``) and the reporting views."""

from __future__ import annotations

import pickle
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import cairn
from cairn._registry_client import GrpcRegistryReads
from cairn.config import Settings
from tests.pipeline import Pipeline

pytestmark = pytest.mark.integration


@pytest.fixture
def registry(pipeline: Pipeline) -> Iterator[GrpcRegistryReads]:
    """The test's own view of the registry, through the query service like the SDK's."""
    settings = Settings(ingest_url=pipeline.ingest.address, api_key=pipeline.stack.api_key)
    reads = GrpcRegistryReads(settings)
    yield reads
    reads.close()


def _until(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout}s: {what}")


def _git_repo(path: Path) -> str:
    path.mkdir()
    run = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q"], cwd=path, check=True)
    (path / "train.py").write_text("print('train')\n")
    subprocess.run([*run, "add", "."], cwd=path, check=True)
    subprocess.run([*run, "commit", "-qm", "train"], cwd=path, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True)
    return head.stdout.strip()


def _train(seed: int, out: Path) -> tuple[Path, Any]:
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(200, 3)), columns=["tenure", "spend", "calls"])
    labels = (frame["spend"] + rng.normal(scale=0.5, size=200) > 0).astype(int)
    model = LogisticRegression(C=1.0 / (seed + 1)).fit(frame, labels)
    out.write_bytes(pickle.dumps(model))
    return out, frame


def test_log_promote_use_and_explain(
    pipeline: Pipeline,
    registry: GrpcRegistryReads,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipeline.configure(monkeypatch, tmp_path, project="registry")
    monkeypatch.setenv("CAIRN_CAPTURE_OFF", "environment,packages,gpu,command,system_metrics")
    commit = _git_repo(tmp_path / "repo")
    monkeypatch.chdir(tmp_path / "repo")
    name = f"churn-{uuid.uuid4().hex[:6]}"

    built = []
    for seed in (1, 2):
        with cairn.init(name=f"train-{seed}", config={"seed": seed}) as run:
            path, frame = _train(seed, tmp_path / f"model-{seed}.pkl")
            dataset = run.use_dataset(frame, name="customers")
            run.log({"auc": 0.7 + seed / 10})
            mv = run.log_model(path, name=name, description=f"seed {seed}")
            built.append((run.id, mv, path, dataset))
    (run1, v1, _path1, _), (run2, v2, path2, data2) = built
    assert (v1.version, v2.version) == (1, 2)
    assert (v1.run_id, v2.run_id) == (run1, run2)
    assert v2.name == name
    assert v2.uri
    assert v2.sha256
    assert v2.aliases == ()

    cairn.set_model_alias(name, 1, "production", reason="first model for the campaign")
    _until(lambda: "production" in registry.resolve(name, 1).aliases, "production -> v1")
    cairn.set_model_alias(name, 2, "production", reason="AUC +0.1 over v1 in shadow")
    _until(lambda: registry.resolve(name, "production").version == 2, "production -> v2")

    with cairn.init(name="score") as scoring:
        local = cairn.use_model(f"{name}@production")
        scoring_id = scoring.id
    assert local.read_bytes() == path2.read_bytes()
    assert pickle.loads(local.read_bytes()).predict(_frame()).shape == (1,)  # noqa: S301 (our own file)
    edge = (
        "SELECT count() FROM lineage WHERE source_id = {r:String} AND relation = 'used'"
        " AND target_kind = 'model_version' AND target_id = {m:String} AND target_version = 2"
    )
    _until(lambda: pipeline.rows(edge, r=scoring_id, m=name)[0][0] == 1, "the used edge")

    report = cairn.model_report(f"{name}@production")
    assert f"# How {name} v2 was built" in report
    assert data2.digest in report
    assert commit in report
    assert "AUC +0.1 over v1 in shadow" in report
    assert "first model for the campaign" in report
    html = cairn.model_report(f"{name}@production", format="html")
    assert html.startswith("<!doctype html>")
    assert data2.digest in html

    reporting = pipeline.url.rsplit("/", 1)[1] + "_reporting"
    current = pipeline.rows(
        f"SELECT version, aliases FROM {reporting}.models WHERE model_name = {{m:String}}"
        " ORDER BY version",
        m=name,
    )
    assert current == [(1, []), (2, ["production"])]
    history = pipeline.rows(
        f"SELECT name, version, removed, reason FROM {reporting}.model_alias_history"
        " WHERE model_name = {m:String} AND kind = 'alias' ORDER BY occurred_at",
        m=name,
    )
    assert history == [
        ("production", 1, False, "first model for the campaign"),
        ("production", 2, False, "AUC +0.1 over v1 in shadow"),
    ]
    latest = history[-1]
    assert [a for v, aliases in current for a in aliases if v == latest[1]] == [latest[0]]


def _frame() -> Any:
    import pandas as pd

    return pd.DataFrame([[0.1, 0.2, 0.3]], columns=["tenure", "spend", "calls"])


_REGISTER = """
import json, sys, time
import cairn

run_id, name, start_at = sys.argv[1:4]
while time.time() < float(start_at):
    time.sleep(0.001)
versions = []
for _ in range(3):
    began = time.monotonic()
    versions.append(cairn.register_model(run_id, "model.pkl", name).version)
    print(f"registered in {time.monotonic() - began:.2f} s", file=sys.stderr)
print(json.dumps(versions))
"""


def test_two_processes_registering_at_once_get_distinct_consecutive_versions(
    pipeline: Pipeline,
    registry: GrpcRegistryReads,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import json
    import os

    pipeline.configure(monkeypatch, tmp_path, project="registry-race")
    (tmp_path / "model.pkl").write_bytes(b"weights\n" * 100)
    with cairn.init(name="build") as run:
        run.log_artifact(tmp_path / "model.pkl", kind="model")
        run_id = run.id
    _until(
        lambda: pipeline.rows("SELECT count() FROM artifacts WHERE run_id = {r:String}", r=run_id)[
            0
        ][0],
        "the artifact in the store",
    )
    name = f"race-{uuid.uuid4().hex[:6]}"
    start_at = str(time.time() + 5.0)
    env = {**os.environ, **pipeline.env(tmp_path, "registry-race")}
    root = Path(__file__).resolve().parents[2]
    args = [sys.executable, "-c", _REGISTER, run_id, name, start_at]
    children = [
        subprocess.Popen(args, cwd=root, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [json.loads(child.communicate(timeout=180)[0]) for child in children]
    assert all(child.returncode == 0 for child in children)
    got = sorted(results[0] + results[1])
    assert got == [1, 2, 3, 4, 5, 6], results
    assert results[0] == sorted(results[0])
    assert results[1] == sorted(results[1])
    listed = [v.version for v in registry.versions(name)]
    assert listed == [6, 5, 4, 3, 2, 1]


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    from cairn.cli import main

    code = main(["models", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_verbs(
    pipeline: Pipeline,
    registry: GrpcRegistryReads,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    pipeline.configure(monkeypatch, tmp_path, project="registry-cli")
    weights = tmp_path / "model.pkl"
    weights.write_bytes(b"cli weights\n" * 50)
    with cairn.init(name="build") as run:
        run.log_artifact(weights, kind="model")
        run_id = run.id
    count = "SELECT count() FROM artifacts WHERE run_id = {r:String}"
    _until(lambda: pipeline.rows(count, r=run_id)[0][0], "the artifact in the store")
    name = f"cli-{uuid.uuid4().hex[:6]}"

    code, out, _ = _cli(
        capsys, "register", run_id, "model.pkl", "--name", name, "--alias", "staging",
        "--format", "json",
    )  # fmt: skip
    assert code == 0
    assert (json.loads(out)["version"], json.loads(out)["aliases"]) == (1, ["staging"])
    _until(lambda: registry.resolve(name, 1).aliases == ("staging",), "staging -> v1")

    code, out, _ = _cli(capsys, "ls", "--format", "json")
    listed = {m["name"]: m for m in json.loads(out)}
    assert listed[name]["versions"] == 1
    assert listed[name]["aliases"] == {"staging": 1}
    code, out, _ = _cli(capsys, "ls")
    assert code == 0
    assert out.splitlines()[0].split() == [
        "name",
        "team",
        "project",
        "versions",
        "latest",
        "aliases",
    ]
    assert any(line.startswith(name) and "staging→v1" in line for line in out.splitlines())

    code, out, _ = _cli(capsys, "alias", name, "1", "production", "--reason", "passed review")
    assert (code, out.strip()) == (0, f"{name}@production -> version 1")
    code, out, _ = _cli(capsys, "unalias", name, "staging", "--reason", "shadow test over")
    assert code == 0
    _until(lambda: registry.resolve(name, 1).aliases == ("production",), "aliases moved")

    code, out, _ = _cli(capsys, "show", name)
    assert code == 0
    assert "alias production" in out
    assert "passed review" in out
    assert "alias removed staging" in out
    assert "shadow test over" in out
    code, out, _ = _cli(capsys, "show", name, "--format", "json")
    shown = json.loads(out)
    assert [v["aliases"] for v in shown["versions"]] == [["production"]]
    assert [(h["name"], h["removed"], h["reason"]) for h in shown["alias_history"]] == [
        ("staging", False, "set at registration"),
        ("production", False, "passed review"),
        ("staging", True, "shadow test over"),
    ]

    code, out, _ = _cli(capsys, "download", f"{name}@production", "--out", str(tmp_path / "got"))
    assert code == 0
    assert (tmp_path / "got" / "model.pkl").read_bytes() == weights.read_bytes()

    report = tmp_path / "report.html"
    code, out, _ = _cli(capsys, "report", f"{name}:1", "--format", "html", "--out", str(report))
    assert code == 0
    assert report.read_text().startswith("<!doctype html>")
    assert "passed review" in report.read_text()

    code, out, err = _cli(capsys, "alias", name, "9", "production", "--reason", "typo")
    assert code == 2
    assert "has no version 9" in err
    assert "[not_found]" in err
    code, out, err = _cli(capsys, "unalias", name, "staging")
    assert code == 2
    assert f"{name!r} has no alias 'staging'" in err


def test_integrations_register_through_the_same_path(
    pipeline: Pipeline,
    registry: GrpcRegistryReads,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import numpy as np
    import xgboost
    from sklearn.tree import DecisionTreeClassifier

    pipeline.configure(monkeypatch, tmp_path, project="registry-integrations")
    tree_model, booster_model = f"tree-{uuid.uuid4().hex[:6]}", f"xgb-{uuid.uuid4().hex[:6]}"
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(60, 4)), rng.integers(0, 2, size=60)

    cairn.sklearn.autolog(registered_model_name=tree_model)
    try:
        with cairn.init(name="tree"):
            DecisionTreeClassifier(max_depth=2).fit(x, y)
    finally:
        cairn.sklearn.autolog(disable=True)
    with cairn.init(name="booster") as run:
        callback = cairn.xgboost.CairnCallback(registered_model_name=booster_model)
        xgboost.train({"max_depth": 2}, xgboost.DMatrix(x, y), 3, callbacks=[callback])
        booster_run = run.id

    (tree,) = registry.versions(tree_model)
    assert (tree.version, tree.artifact_name, tree.tags["flavor"]) == (1, "model.pkl", "sklearn")
    (booster,) = registry.versions(booster_model)
    assert (booster.version, booster.run_id, booster.artifact_name) == (
        1,
        booster_run,
        "model.json",
    )
    assert pickle.loads(cairn.use_model(tree_model).read_bytes()).predict(x).shape == (60,)  # noqa: S301
