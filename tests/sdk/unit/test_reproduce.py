"""``cairn reproduce`` logic without a server: code restore on a real git repository, data
checks and fetches against a real local artifact store, the reproduction context ``cairn.init``
reads, the plan ``--dry-run`` prints, and the report's verdict."""

from __future__ import annotations

import json
import math
import os
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

import cairn
from cairn import _capture
from cairn._datasets import describe
from cairn._hashing import manifest
from cairn.artifacts import LocalStore, store_path
from cairn.errors import FailedPreconditionError, NotFoundError, ValidationError
from cairn.reproduce import (
    CodeRecord,
    DatasetInput,
    DataState,
    ReproduceOptions,
    ReproductionContext,
    RunRecord,
    _cli,
    build_plan,
    build_report,
    check_dataset,
    fetch_dataset,
    format_plan,
    format_report,
    parse_overrides,
    restore_code,
)


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@e",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@e",
    }
    done = subprocess.run(
        ["git", *args], cwd=repo, env=env, capture_output=True, check=True, text=True
    )
    return done.stdout.strip()


@pytest.fixture
def dirty_repo(tmp_path: Path) -> tuple[Path, CodeRecord]:
    """A repository with one commit and an uncommitted change, recorded as cairn.init does."""
    root = tmp_path / "origin"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "train.py").write_text("lr = 0.1\n")
    (root / "util.py").write_text("X = 1\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "first")
    (root / "train.py").write_text("lr = 0.2  # tuned\n")
    recorded = _capture.capture_code(diff=True, max_diff_bytes=1 << 20, cwd=root)
    assert recorded is not None
    assert recorded.dirty
    code = CodeRecord(
        git_remote="",
        commit=recorded.commit,
        branch=recorded.branch,
        dirty=True,
        diff=recorded.diff,
        diff_truncated=recorded.diff_truncated,
        diff_sha256=recorded.diff_sha256,
        entry_point="train.py",
    )
    return root, code


def test_restore_code_checks_out_the_commit_and_applies_the_uncommitted_patch(
    dirty_repo: tuple[Path, CodeRecord], tmp_path: Path
) -> None:
    origin, code = dirty_repo
    restored = restore_code(code, tmp_path / "work" / "code", repo=str(origin))
    assert (restored / "train.py").read_text() == "lr = 0.2  # tuned\n"
    assert (restored / "util.py").read_text() == "X = 1\n"
    assert git(restored, "rev-parse", "HEAD") == code.commit


def test_a_patch_cut_at_the_capture_limit_is_refused_before_cloning(
    dirty_repo: tuple[Path, CodeRecord], tmp_path: Path
) -> None:
    origin, _code = dirty_repo
    cut = _capture.capture_code(diff=True, max_diff_bytes=10, cwd=origin)
    assert cut is not None
    assert cut.diff_truncated
    truncated = CodeRecord(
        git_remote="",
        commit=cut.commit,
        dirty=True,
        diff=cut.diff,
        diff_truncated=True,
        diff_sha256=cut.diff_sha256,
    )
    target = tmp_path / "work" / "code"
    with pytest.raises(FailedPreconditionError, match="cut at the capture size limit"):
        restore_code(truncated, target, repo=str(origin))
    assert not target.exists()


def test_a_commit_missing_from_the_clone_is_refused_naming_it(
    dirty_repo: tuple[Path, CodeRecord], tmp_path: Path
) -> None:
    origin, _code = dirty_repo
    missing = CodeRecord(git_remote="", commit="0" * 40, entry_point="train.py")
    with pytest.raises(NotFoundError, match=f"commit {'0' * 40} is not in"):
        restore_code(missing, tmp_path / "work" / "code", repo=str(origin))


def test_a_patch_whose_digest_differs_from_the_recorded_one_is_refused(
    dirty_repo: tuple[Path, CodeRecord], tmp_path: Path
) -> None:
    origin, code = dirty_repo
    forged = CodeRecord(
        git_remote="", commit=code.commit, dirty=True, diff=code.diff, diff_sha256="ab" * 32
    )
    with pytest.raises(FailedPreconditionError, match="does not hash to the recorded"):
        restore_code(forged, tmp_path / "work" / "code", repo=str(origin))


def _file_input(path: Path) -> DatasetInput:
    recorded = describe(path)
    return DatasetInput(
        recorded.name, recorded.uri, recorded.digest, recorded.manifest_digest, 1, "input"
    )


def test_an_unchanged_file_is_same_and_a_changed_one_names_itself_and_both_digests(
    tmp_path: Path,
) -> None:
    data = tmp_path / "train.csv"
    data.write_text("x,y\n1,2\n")
    dataset = _file_input(data)
    assert check_dataset(dataset).state is DataState.SAME
    data.write_text("x,y\n1,3\n")
    check = check_dataset(dataset)
    assert check.state is DataState.CHANGED
    assert check.differing_files == ("train.csv",)
    assert check.current_digest != dataset.digest
    assert dataset.digest in check.describe()
    assert check.current_digest in check.describe()


def test_a_changed_directory_names_the_differing_files_from_the_stored_manifest(
    tmp_path: Path,
) -> None:
    root = tmp_path / "images"
    (root / "a").mkdir(parents=True)
    (root / "a" / "1.txt").write_text("one")
    (root / "2.txt").write_text("two")
    store = LocalStore(tmp_path / "store")
    store_path(store, root)  # the recorded version, logged as an artifact
    d = describe(root)
    dataset = DatasetInput(d.name, d.uri, d.digest, d.manifest_digest, d.file_count)
    (root / "2.txt").write_text("changed")
    (root / "3.txt").write_text("new")
    check = check_dataset(dataset, store)
    assert check.state is DataState.CHANGED
    assert check.differing_files == ("2.txt", "3.txt")
    fetched = fetch_dataset(check, dataset, store, tmp_path / "fetched")
    assert fetched.state is DataState.FETCHED
    assert fetched.current_digest == dataset.digest
    assert fetched.path is not None
    assert [e.path for e in manifest(fetched.path)] == ["2.txt", "a/1.txt"]


def test_fetch_of_a_file_not_in_the_store_leaves_it_refused(tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    data.write_text("v1")
    dataset = _file_input(data)
    store = LocalStore(tmp_path / "store")
    data.write_text("v2")
    check = check_dataset(dataset, store)
    assert fetch_dataset(check, dataset, store, tmp_path / "out").state is DataState.CHANGED
    data.write_text("v1")
    store.put_file(data)
    data.write_text("v2")
    fetched = fetch_dataset(check, dataset, store, tmp_path / "out")
    assert fetched.state is DataState.FETCHED
    assert fetched.path is not None
    assert fetched.path.read_text() == "v1"


def test_a_remote_uri_is_reported_unverifiable_not_refused(tmp_path: Path) -> None:
    dataset = DatasetInput("s3data", "s3://bucket/train.csv?versionId=3", "sha256:" + "0" * 64)
    check = check_dataset(dataset)
    assert check.state is DataState.UNVERIFIABLE
    assert check.usable
    assert "cannot read s3://bucket" in check.describe()


def test_the_context_puts_recorded_params_and_overrides_into_config_with_the_code_types() -> None:
    context = ReproductionContext(
        original="o",
        run_id="r",
        params={"lr": "0.05", "model.depth": "3", "name": "x", "later_logged": "1"},
        overrides={"lr": "0.2", "new.flag": "true"},
    )
    config = {"lr": 0.1, "model": {"depth": 2}, "name": "y", "seed": 7}
    applied = context.apply(config)
    assert applied == {
        "lr": 0.2,
        "model": {"depth": 3},
        "name": "x",
        "seed": 7,
        "new": {"flag": True},
    }
    assert config["lr"] == 0.1  # the caller's mapping is untouched
    assert ReproductionContext.decode(context.encode()) == context


def test_init_under_a_reproduction_uses_its_run_id_config_and_tags(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    context = ReproductionContext(
        original="orig-1", run_id="repro-1", params={"lr": "0.5"}, tags={"k": "v"}
    )
    monkeypatch.setenv("CAIRN_REPRODUCTION", context.encode())
    monkeypatch.setattr(cairn, "_reproduction_pending", True)
    monkeypatch.setattr(cairn, "_inherit_pending", False)
    run = cairn.init(project="p", team="t", config={"lr": 0.1}, mode="disabled", dir=tmp_path)
    try:
        assert run.id == "repro-1"
        assert run.config == {"lr": 0.5}
    finally:
        run.finish()
    second = cairn.init(project="p", team="t", config={"lr": 0.1}, mode="disabled", dir=tmp_path)
    assert second.id != "repro-1"
    assert second.config == {"lr": 0.1}
    second.finish()


def test_set_items_must_be_key_value() -> None:
    assert parse_overrides(["lr=0.1", "a.b=x=y"]) == {"lr": "0.1", "a.b": "x=y"}
    with pytest.raises(ValidationError, match="--set: 'lr' must be key=value"):
        parse_overrides(["lr"])


def _record(code: CodeRecord | None, datasets: tuple[DatasetInput, ...] = ()) -> RunRecord:
    return RunRecord(
        run_id="run-1",
        name="baseline",
        project="churn",
        status="finished",
        command_line=("/old/place/train.py", "--epochs", "3"),
        code=code,
        python_version="3.11.9",
        packages={"numpy": "2.1.0", "pip": "24.0", "cairn-sdk": "0.1.0"},
        datasets=datasets,
        params={"lr": "0.1"},
    )


def test_the_plan_lists_clone_installs_data_and_command_and_names_refusals(
    dirty_repo: tuple[Path, CodeRecord], tmp_path: Path
) -> None:
    _, code = dirty_repo
    data = tmp_path / "train.csv"
    data.write_text("a")
    dataset = _file_input(data)
    options = ReproduceOptions(workdir=tmp_path / "w", overrides={"lr": "0.3"}, repo="/r")
    plan = build_plan(_record(code, (dataset,)), options)
    text = format_plan(plan)
    assert f"check out {code.commit}" in text
    assert "apply the uncommitted patch" in text
    assert "numpy==2.1.0" in text
    assert "pip==" not in text
    assert f"cd {tmp_path / 'w' / 'code'} && python train.py --epochs 3" in text
    assert "--set lr=0.3 (recorded: 0.1)" in text
    assert plan.refusals == ()
    data.write_text("b")
    refused = build_plan(_record(replace_truncated(code), (dataset,)), options)
    assert len(refused.refusals) == 2
    text = format_plan(refused)
    assert "cut at the capture size limit" in text
    assert f"recorded {dataset.digest}" in text
    assert "differing files: train.csv" in text


def replace_truncated(code: CodeRecord) -> CodeRecord:
    return replace(code, diff_truncated=True)


class FakeSource:
    def __init__(self, record: RunRecord) -> None:
        self.record = record

    def get_run(self, run_id: str) -> RunRecord:
        if run_id != self.record.run_id:
            raise NotFoundError(f"no such run: {run_id}")
        return self.record

    def metric_points(self, run_id: str) -> dict[str, list[tuple[int, float]]]:
        return {}


def test_cli_dry_run_prints_the_plan_and_fails_when_it_would_refuse(
    dirty_repo: tuple[Path, CodeRecord],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, code = dirty_repo
    monkeypatch.setenv("CAIRN_LOCAL_STACK_FILE", str(tmp_path / "none.json"))
    monkeypatch.setattr(_cli, "open_source", lambda settings: FakeSource(_record(code)))
    from cairn.cli import main

    workdir = tmp_path / "w"
    assert main(["reproduce", "run-1", "--dry-run", "--workdir", str(workdir)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"reproduce run run-1 (churn/baseline) in {workdir}")
    assert not workdir.exists()
    monkeypatch.setattr(
        _cli, "open_source", lambda settings: FakeSource(_record(replace_truncated(code)))
    )
    assert main(["reproduce", "run-1", "--dry-run", "--workdir", str(workdir)]) == 1
    assert "cannot reproduce:" in capsys.readouterr().out
    assert main(["reproduce", "nope", "--dry-run"]) == 2
    assert "no such run: nope" in capsys.readouterr().err


def _points(values: list[float]) -> dict[str, list[tuple[int, float]]]:
    return {"loss": list(enumerate(values))}


def test_the_report_is_identical_only_when_every_step_and_input_matches() -> None:
    a = _record(CodeRecord("", "c" * 40))
    b = RunRecord(**{**_as_dict(a), "run_id": "run-2", "packages": {**a.packages, "pip": "25"}})
    report = build_report(a, b, _points([1.0, 0.5]), _points([1.0, 0.5]))
    assert report.identical
    assert report.verdict == "identical"
    text = format_report(report)
    assert text.startswith("reproduction run-2 of run-1: identical")
    assert "package pip: 24.0 -> 25" in text  # tooling: shown, not decisive


def test_the_report_names_an_override_and_the_per_step_deviation() -> None:
    a = _record(CodeRecord("", "c" * 40))
    b = RunRecord(**{**_as_dict(a), "run_id": "run-2", "params": {"lr": "0.3"}})
    report = build_report(a, b, _points([1.0, 0.5, 0.25]), _points([1.0, 0.4, 0.3]))
    assert not report.identical
    (loss,) = report.metrics
    assert loss.max_step_deviation == pytest.approx(0.1)
    assert loss.original_final == 0.25
    assert loss.reproduction_final == 0.3
    assert report.verdict == "differs: metrics deviate (loss); params differ (lr)"
    assert "lr: 0.1 -> 0.3" in format_report(report)


def test_nan_on_one_side_and_missing_steps_are_deviations() -> None:
    a = _record(None)
    b = RunRecord(**{**_as_dict(a), "run_id": "run-2"})
    report = build_report(a, b, _points([1.0, math.nan, 2.0]), _points([1.0, 3.0]))
    (loss,) = report.metrics
    assert math.isinf(loss.max_step_deviation)
    assert loss.steps_missing == 1
    same_nan = build_report(a, b, _points([math.nan]), _points([math.nan]))
    assert same_nan.identical


def _as_dict(record: RunRecord) -> dict[str, object]:
    return {name: getattr(record, name) for name in RunRecord.__slots__}


def test_context_decode_rejects_garbage_naming_the_variable() -> None:
    with pytest.raises(cairn.ConfigError, match="CAIRN_REPRODUCTION"):
        ReproductionContext.decode(json.dumps({"run_id": "x"}))


def test_container_image_comes_from_settings_else_from_podmans_containerenv(
    tmp_path: Path,
) -> None:
    containerenv = tmp_path / ".containerenv"
    image_id = "c" * 64
    containerenv.write_text(
        f'engine="podman-5.0"\nimage="quay.io/team/train:3"\nimageid="{image_id}"\n'
    )
    assert _capture.container_image(("", ""), containerenv) == (
        "quay.io/team/train:3",
        f"sha256:{image_id}",
    )
    given = ("registry/train:4", "sha256:" + "d" * 64)
    assert _capture.container_image(given, containerenv) == given
    assert _capture.container_image(("", ""), tmp_path / "absent") == ("", "")


def test_container_settings_come_from_cairn_variables(tmp_path: Path) -> None:
    from cairn.config import resolve_settings

    env = {"CAIRN_CONTAINER_IMAGE": "registry/train:4", "CAIRN_CONTAINER_DIGEST": "sha256:ab"}
    settings = resolve_settings(env=env, stack_file=tmp_path / "none.json")
    assert (settings.container_image, settings.container_digest) == (
        "registry/train:4",
        "sha256:ab",
    )
