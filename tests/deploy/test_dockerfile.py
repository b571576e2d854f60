"""The service image's Dockerfile: hadolint finds nothing, and the image is what docs promise
(one image, non-root, a pinned base, no SDK). No Docker engine runs here, so it is not built."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.deploy.tools import DOCKERFILE, REPO, run, tools

# They run the validators deploy/tools/install.sh installs (helm is built once, minutes).
pytestmark = pytest.mark.integration


def _instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def test_hadolint_finds_nothing() -> None:
    result = run([tools().hadolint, "--failure-threshold", "info", DOCKERFILE])
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_catches_an_unpinned_root_image(tmp_path: Path) -> None:
    """The linter really runs: a Dockerfile with a floating base and apt without pins fails."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\n")
    result = run([tools().hadolint, "--failure-threshold", "info", bad])
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # "Using latest is prone to errors"


def test_runtime_stage_is_non_root_and_pinned() -> None:
    steps = _instructions(DOCKERFILE.read_text())
    args = dict(rest.split("=", 1) for kw, rest in steps if kw == "ARG" and "=" in rest)
    base = args["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base), base
    last_from = max(i for i, (kw, _) in enumerate(steps) if kw == "FROM")
    users = [rest for kw, rest in steps[last_from:] if kw == "USER"]
    assert users, "the runtime stage must switch to a non-root user"
    assert users[-1].split(":")[0] not in ("root", "0")


def test_the_sdk_is_not_in_the_image_and_every_copied_path_exists() -> None:
    steps = _instructions(DOCKERFILE.read_text())
    sources = [
        src
        for kw, rest in steps
        if kw == "COPY" and not rest.startswith("--from")
        for src in rest.split()[:-1]
    ]
    assert sources
    assert not any(s.rstrip("/").startswith("sdk") for s in sources), sources
    for source in sources:
        assert (REPO / source).exists(), f"COPY {source}: no such path in the repository"
    ignored = (REPO / ".dockerignore").read_text().splitlines()
    for source in sources:
        assert f"!{source}" in ignored, f".dockerignore must let {source} into the build context"
    assert "!sdk/" not in ignored


@pytest.mark.parametrize("service", ["ingest", "processors", "localstack.provision"])
def test_every_module_the_image_runs_exists(service: str) -> None:
    """The image's entry point is ``python -m``; compose and the chart name these modules."""
    package = REPO / service.replace(".", "/")
    assert package.with_suffix(".py").exists() or (package / "__main__.py").exists()
