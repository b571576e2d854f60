"""The deployment validators (hadolint, helm, kubernetes-validate, check-jsonschema), installed by
``deploy/tools/install.sh`` into ``~/.cache/cairn/deploy-tools`` (pinned; once per machine)."""

from __future__ import annotations

import functools
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "deploy" / "tools" / "install.sh"
CHART = REPO / "deploy" / "helm" / "cairn"
COMPOSE = REPO / "deploy" / "compose" / "compose.yaml"
DOCKERFILE = REPO / "deploy" / "Dockerfile"


@dataclass(frozen=True)
class Tools:
    hadolint: Path
    helm: Path
    kubernetes_validate: Path
    check_jsonschema: Path


def _helm_version() -> str:
    match = re.search(r'^HELM_VERSION="(v[0-9.]+)"', INSTALL.read_text(), re.MULTILINE)
    assert match, "deploy/tools/install.sh must pin HELM_VERSION"
    return match.group(1)


@functools.cache
def tools() -> Tools:
    """Install (if needed) and locate the validators; the install script is idempotent."""
    subprocess.run([str(INSTALL)], check=True, timeout=1500)
    cache = Path(os.environ.get("CAIRN_CACHE_DIR", Path.home() / ".cache" / "cairn"))
    base = cache / "deploy-tools"
    return Tools(
        hadolint=base / "venv" / "bin" / "hadolint",
        helm=base / f"helm-{_helm_version()}" / "helm",
        kubernetes_validate=base / "venv" / "bin" / "kubernetes-validate",
        check_jsonschema=base / "venv" / "bin" / "check-jsonschema",
    )


def run(argv: list[str | Path], *, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """Run a validator and return its result (never raises on a non-zero exit)."""
    return subprocess.run(
        [str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )
