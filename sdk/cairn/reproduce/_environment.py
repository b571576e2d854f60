"""A fresh virtualenv from a run's recorded package list.

Every recorded package is pinned exactly (``name==version``) and installed without dependency
resolution (the recorded list is the whole environment, dependencies included). What cannot be
installed at its version is retried unpinned, and the report says what was used instead. The
interpreter is the recorded Python version where one is on this machine (``uv`` finds installed
interpreters; it is told never to download one), otherwise the current one, and the report says
so. The Cairn SDK itself is installed from where the running SDK came from, so the reproduction
can record its run; it is tooling, compared but never decisive (see ``_report``).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from cairn.errors import FailedPreconditionError

INSTALL_TIMEOUT_S = 1800.0
# Installed by the venv itself or by us, never from the recorded list.
SKIPPED = frozenset(
    {"pip", "setuptools", "wheel", "uv", "cairn-sdk", "cairn-contract", "distribute"}
)
# The SDK and the contract it depends on, installed the way the running ones were.
SDK_DISTRIBUTIONS = ("cairn-contract", "cairn-sdk")


@dataclass(frozen=True, slots=True)
class PackageOutcome:
    name: str
    recorded: str
    installed: str  # the version now in the environment; '' when it could not be installed

    @property
    def exact(self) -> bool:
        return self.installed == self.recorded

    def describe(self) -> str:
        if self.exact:
            return f"{self.name}=={self.recorded}"
        if not self.installed:
            return f"{self.name}=={self.recorded}: not installable, left out"
        return f"{self.name}=={self.recorded}: not installable, used {self.installed} instead"


@dataclass(frozen=True, slots=True)
class EnvironmentResult:
    python: Path  # the interpreter that runs the reproduction
    python_version: str
    python_note: str  # '' when it is the recorded version
    packages: tuple[PackageOutcome, ...]

    @property
    def substitutions(self) -> tuple[PackageOutcome, ...]:
        return tuple(p for p in self.packages if not p.exact)


def wanted_packages(packages: Mapping[str, str]) -> list[tuple[str, str]]:
    return sorted(
        (name, version)
        for name, version in packages.items()
        if name.lower() not in SKIPPED and version
    )


def sdk_requirements() -> list[str]:
    """How to install the running SDK elsewhere: each of its Cairn distributions from its local
    source (an editable or local install), or at its released version."""
    found = []
    for name in SDK_DISTRIBUTIONS:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        raw = dist.read_text("direct_url.json")
        url = str(json.loads(raw).get("url", "")) if raw else ""
        found.append(
            url.removeprefix("file://") if url.startswith("file://") else f"{name}=={dist.version}"
        )
    return found or ["cairn-sdk"]


def _run(
    command: Sequence[str], env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(command),
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
        check=False,
        env={**os.environ, **(env or {})},
    )


def _uv() -> str | None:
    """``uv`` on PATH, else the one installed beside this interpreter (``pip install uv`` in a
    virtualenv that is used without being activated)."""
    found = shutil.which("uv")
    if found is not None:
        return found
    beside = Path(sys.executable).parent / "uv"
    return str(beside) if beside.is_file() and os.access(beside, os.X_OK) else None


def _create(target: Path, python_version: str) -> tuple[Path, str]:
    """The venv's interpreter and a note ('' when it is the recorded version)."""
    uv = _uv()
    tried: list[str] = []
    if uv is not None and python_version:
        # This interpreter first when it is the recorded version (uv may not see it on PATH).
        current = sys.executable if platform.python_version() == python_version else None
        requests = (current, python_version, ".".join(python_version.split(".")[:2]))
        for request in (r for r in requests if r):
            done = _run(
                [uv, "venv", "--quiet", "--seed", "--python", request, str(target)],
                {"UV_PYTHON_DOWNLOADS": "never"},
            )
            if done.returncode == 0:
                python = target / "bin" / "python"
                used = _version(python)
                note = (
                    ""
                    if used == python_version
                    else f"Python {python_version} not found, used {used}"
                )
                return python, note
            tried.append(request)
    shutil.rmtree(target, ignore_errors=True)
    done = _run([sys.executable, "-m", "venv", str(target)])
    if done.returncode != 0:
        raise FailedPreconditionError(
            f"cannot create a virtualenv in {target}: {done.stderr.strip()[-300:]}",
            field="env",
        )
    python = target / "bin" / "python"
    used = _version(python)
    note = ""
    if python_version and used != python_version:
        note = f"Python {python_version} not found on this machine, used {used}"
    elif not python_version:
        note = f"no Python version recorded, used {used}"
    return python, note


def _version(python: Path) -> str:
    done = _run([str(python), "-c", "import platform; print(platform.python_version())"])
    return done.stdout.strip()


def _install(python: Path, requirements: Sequence[str], *, deps: bool) -> bool:
    if not requirements:
        return True
    flags = [] if deps else ["--no-deps"]
    uv = _uv()
    if uv is not None:
        command = [uv, "pip", "install", "--quiet", "--python", str(python), *flags, *requirements]
    else:
        command = [str(python), "-m", "pip", "install", "--quiet", *flags, *requirements]
    return _run(command).returncode == 0


def installed_packages(python: Path) -> dict[str, str]:
    script = (
        "import json, importlib.metadata as m;"
        "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()"
        " if d.metadata['Name']}))"
    )
    done = _run([str(python), "-c", script])
    if done.returncode != 0:
        return {}
    found: dict[str, str] = json.loads(done.stdout)
    return found


def build_environment(
    target: Path, python_version: str, packages: Mapping[str, str]
) -> EnvironmentResult:
    """Create the venv at ``target`` and install the recorded packages into it."""
    python, note = _create(target, python_version)
    wanted = wanted_packages(packages)
    pins = [f"{name}=={version}" for name, version in wanted]
    if not _install(python, pins, deps=False):
        for name, version in wanted:  # find which ones fail, and use the newest instead
            if not _install(python, [f"{name}=={version}"], deps=False):
                _install(python, [name], deps=False)
    sdk = sdk_requirements()
    if not _install(python, sdk, deps=True):
        raise FailedPreconditionError(
            f"cannot install the Cairn SDK ({' '.join(sdk)}) into {target}", field="env"
        )
    now = {name.lower(): version for name, version in installed_packages(python).items()}
    outcomes = tuple(
        PackageOutcome(name, version, now.get(name.lower(), "")) for name, version in wanted
    )
    return EnvironmentResult(python, _version(python), note, outcomes)
