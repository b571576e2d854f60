"""Automatic capture: git state (with credentials removed and the diff capped), the environment,
system metrics, and every part switchable off."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

import cairn
from cairn import _capture
from cairn._system_metrics import SystemSampler, gpu_values
from cairn.config import Capture
from cairn.v1 import metrics_pb2
from tests.sdk.helpers import offline_settings, payloads, spooled_events, wait_for


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
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "remote", "add", "origin", "https://alice:s3cret-token@github.com/acme/churn.git")
    (root / "train.py").write_text("print('train')\n")
    git(root, "add", "train.py")
    git(root, "commit", "-q", "-m", "first")
    return root


def test_git_state_is_recorded_without_credentials(repo: Path) -> None:
    code = _capture.capture_code(diff=True, max_diff_bytes=1000, cwd=repo)
    assert code is not None
    assert code.git_remote == "https://github.com/acme/churn.git"
    assert code.branch == "main"
    assert code.commit == git(repo, "rev-parse", "HEAD")
    assert not code.dirty
    assert not code.diff


def test_the_uncommitted_diff_is_capped_and_hashed_whole(repo: Path) -> None:
    (repo / "train.py").write_text("print('train')\n" + "x = 1\n" * 500)
    full = subprocess.run(
        ["git", "diff", "HEAD", "--no-color"], cwd=repo, capture_output=True, check=True
    ).stdout
    code = _capture.capture_code(diff=True, max_diff_bytes=200, cwd=repo)
    assert code is not None
    assert code.dirty
    assert code.diff_truncated
    assert len(code.diff.encode()) <= 200
    assert full.startswith(code.diff.encode())
    assert code.diff_sha256 == hashlib.sha256(full).hexdigest()
    without = _capture.capture_code(diff=False, max_diff_bytes=200, cwd=repo)
    assert without is not None
    assert without.dirty
    assert without.diff == ""


def test_outside_a_repository_nothing_is_recorded(tmp_path: Path) -> None:
    assert _capture.capture_code(diff=True, max_diff_bytes=100, cwd=tmp_path) is None


@pytest.mark.parametrize(
    ("url", "clean"),
    [
        ("https://user:tok@host/org/r.git", "https://host/org/r.git"),
        ("ssh://git@host:22/r.git", "ssh://host:22/r.git"),
        ("git@github.com:org/r.git", "git@github.com:org/r.git"),
    ],
)
def test_remote_urls_lose_their_credentials(url: str, clean: str) -> None:
    assert _capture.redact_remote(url) == clean


def test_the_environment_describes_this_machine() -> None:
    found = _capture.capture_environment(environment=True, packages=True, gpu=True)
    assert found.python_version == ".".join(map(str, sys.version_info[:3]))
    assert found.cpu_count == os.cpu_count()
    assert found.memory_bytes > 0
    names = {p.name.lower() for p in found.packages}
    assert {"grpcio", "protobuf", "psutil"} <= names
    only_packages = _capture.capture_environment(environment=False, packages=True, gpu=False)
    assert only_packages.python_version == ""
    assert only_packages.packages


def test_system_samples_cover_cpu_memory_disk_and_network(tmp_path: Path) -> None:
    samples: list[object] = []
    sampler = SystemSampler(samples.append, interval_s=0.05, gpu=False, disk_path=str(tmp_path))
    values = {metric for metric, _, _ in sampler.sample()}
    assert {
        metrics_pb2.SYSTEM_METRIC_CPU_PERCENT,
        metrics_pb2.SYSTEM_METRIC_MEMORY_USED_BYTES,
        metrics_pb2.SYSTEM_METRIC_MEMORY_PERCENT,
        metrics_pb2.SYSTEM_METRIC_DISK_USED_PERCENT,
    } <= values
    sampler.start()
    wait_for(lambda: len(samples) >= 2, what="two samples")
    sampler.stop()


def test_nvidia_smi_output_becomes_per_gpu_series() -> None:
    values = gpu_values("87, 1024, 4096, 61, 250.5\n0, 0, 4096, [N/A], [N/A]\n")
    assert values == [
        (metrics_pb2.SYSTEM_METRIC_GPU_UTILIZATION_PERCENT, "gpu0", 87.0),
        (metrics_pb2.SYSTEM_METRIC_GPU_MEMORY_USED_BYTES, "gpu0", 1024 * 1024 * 1024.0),
        (metrics_pb2.SYSTEM_METRIC_GPU_MEMORY_PERCENT, "gpu0", 25.0),
        (metrics_pb2.SYSTEM_METRIC_GPU_TEMPERATURE_CELSIUS, "gpu0", 61.0),
        (metrics_pb2.SYSTEM_METRIC_GPU_POWER_WATTS, "gpu0", 250.5),
        (metrics_pb2.SYSTEM_METRIC_GPU_UTILIZATION_PERCENT, "gpu1", 0.0),
        (metrics_pb2.SYSTEM_METRIC_GPU_MEMORY_USED_BYTES, "gpu1", 0.0),
        (metrics_pb2.SYSTEM_METRIC_GPU_MEMORY_PERCENT, "gpu1", 0.0),
    ]


def test_a_run_captures_everything_by_default(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    settings = offline_settings(tmp_path, capture=Capture(), system_metrics_interval_s=0.05)
    with cairn.init(settings=settings) as run:
        directory = run.spool_dir
        assert directory is not None

        def sampled() -> bool:
            run.flush(10)
            return bool(payloads(spooled_events(directory), "system_metrics"))

        wait_for(sampled, what="a system metrics sample")
    events = spooled_events(directory)
    kinds = {e.WhichOneof("payload") for e in events}
    assert {"code_version_recorded", "environment_recorded", "system_metrics"} <= kinds
    assert payloads(events, "run_created")[0].command_line == sys.argv


def test_capture_can_be_switched_off_entirely(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    with cairn.init(settings=offline_settings(tmp_path, system_metrics_interval_s=0.05)) as run:
        assert run._parts.capture is None
        assert run._parts.sampler is None
    assert run.spool_dir is not None
    events = spooled_events(run.spool_dir)
    assert [e.WhichOneof("payload") for e in events] == ["run_created", "run_status_changed"]
    assert list(events[0].run_created.command_line) == []
