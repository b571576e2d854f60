"""Install the peers (MLflow, Aim) from PyPI into virtualenvs of their own.

Each peer lives in ``<cache>/bench-peers/<name>-<version>/`` (``<cache>`` is ``CAIRN_CACHE_DIR``,
default ``~/.cache/cairn``), created with ``python -m venv`` and ``pip install <name>==<version>``,
so a peer never shares a package with Cairn or with the other peer. "Latest" means the newest
version pip can actually install here: pip resolves ``<name>`` in a dry run (as in an empty
environment), and that version is installed. When the index lists a newer version that does not
resolve (a dependency missing from the index), the result says so.

A venv is reused when its marker file records a successful install of that version; the marker
also keeps how long the install took, so the report can show it on later runs. A failed install
is not an exception: it comes back as a :class:`PeerInstall` with the pip error, and the report
shows the peer as not installable, with that error.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

MARKER = ".bench-installed.json"
PIP_TIMEOUT_S = 900


@dataclass(frozen=True)
class PeerInstall:
    name: str
    version: str = ""
    venv: Path | None = None
    install_seconds: float | None = None  # of the install that created the venv
    cached: bool = False  # reused a venv from an earlier run
    note: str = ""
    error: str = ""  # the end of pip's output when the install failed

    @property
    def ok(self) -> bool:
        return self.venv is not None and not self.error

    @property
    def python(self) -> Path:
        if self.venv is None:
            raise RuntimeError(f"{self.name} is not installed: {self.error}")
        return self.venv / "bin" / "python"

    @property
    def bin(self) -> Path:
        return self.python.parent


def _run(argv: list[str], timeout: float = PIP_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def _tail(text: str, lines: int = 12) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def listed_version(package: str) -> str:
    """The newest version the index lists (``pip index versions``), or "" if unknown."""
    done = _run([sys.executable, "-m", "pip", "index", "versions", package], timeout=120)
    match = re.match(rf"{re.escape(package)} \(([^)]+)\)", done.stdout.strip(), re.IGNORECASE)
    return match.group(1) if match else ""


def resolved_version(package: str) -> tuple[str, str]:
    """(version pip would install into an empty environment, error text)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        done = _run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--dry-run",
                "--ignore-installed",
                "--quiet",
                "--report",
                str(report),
                package,
            ]
        )
        if done.returncode != 0 or not report.exists():
            return "", _tail(done.stderr or done.stdout)
        data = json.loads(report.read_text())
    for item in data.get("install", []):
        meta = item.get("metadata", {})
        if str(meta.get("name", "")).lower() == package.lower():
            return str(meta["version"]), ""
    return "", f"pip's resolution of {package} did not include {package}"


def _read_marker(venv: Path) -> dict[str, object] | None:
    try:
        marker = json.loads((venv / MARKER).read_text())
    except (OSError, ValueError):
        return None
    python = venv / "bin" / "python"
    return marker if isinstance(marker, dict) and python.exists() else None


def _newest_installed(root: Path, package: str) -> Path | None:
    found = [p for p in root.glob(f"{package}-*") if _read_marker(p) is not None]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def _known_resolution(root: Path, package: str, listed: str) -> str:
    """The version an earlier run resolved when the listed one did not install ("" if none)."""
    try:
        recorded = json.loads((root / f".resolved-{package}-{listed}.json").read_text())
    except (OSError, ValueError):
        return ""
    return str(recorded.get("resolved", "")) if isinstance(recorded, dict) else ""


def ensure_peer(
    package: str, root: Path, log: Callable[[str], None], extra: tuple[str, ...] = ()
) -> PeerInstall:
    """The venv of the newest installable ``package`` under ``root``, installing it if needed.

    Fast path: the index's newest version (``pip index versions``, about a second) already has a
    venv. Otherwise pip resolves the package in a dry run, and when that picks an older version
    than the index lists, the pair is remembered so later runs take the fast path too."""
    root.mkdir(parents=True, exist_ok=True)
    listed = listed_version(package)
    version, resolve_error = "", ""
    if listed and _read_marker(root / f"{package}-{listed}") is not None:
        version = listed
    elif listed and (known := _known_resolution(root, package, listed)):
        version = known
    else:
        version, resolve_error = resolved_version(package)
        if listed and version and version != listed:
            (root / f".resolved-{package}-{listed}.json").write_text(
                json.dumps({"listed": listed, "resolved": version})
            )
    note = ""
    if listed and version and listed != version:
        note = (
            f"PyPI lists {package} {listed}, but it does not install here (its dependencies do "
            f"not resolve from the index); pip resolves {package} {version}, which is used"
        )
    if not version:
        fallback = _newest_installed(root, package)
        if fallback is None:
            return PeerInstall(package, error=f"pip could not resolve {package}:\n{resolve_error}")
        recorded = _read_marker(fallback) or {}
        log(f"  {package}: resolution failed, reusing {fallback.name}")
        return PeerInstall(
            package,
            str(recorded.get("version", "")),
            fallback,
            _float(recorded.get("install_seconds")),
            cached=True,
            note=f"could not reach the index ({_tail(resolve_error, 2)}); reused {fallback.name}",
        )
    venv = root / f"{package}-{version}"
    marker = _read_marker(venv)
    if marker is not None and marker.get("version") == version:
        return PeerInstall(
            package, version, venv, _float(marker.get("install_seconds")), cached=True, note=note
        )
    log(f"  {package}: installing {package}=={version} into {venv} ...")
    shutil.rmtree(venv, ignore_errors=True)
    started = time.perf_counter()
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--upgrade", "pip"],
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            f"{package}=={version}",
            *extra,
        ],
    ]
    for argv in steps:
        done = _run(argv)
        if done.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            error = _tail(done.stderr or done.stdout)
            return PeerInstall(package, version, error=f"`{' '.join(argv[-3:])}` failed:\n{error}")
    seconds = time.perf_counter() - started
    (venv / MARKER).write_text(
        json.dumps(
            {
                "version": version,
                "install_seconds": round(seconds, 1),
                "installed_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "python": sys.version.split()[0],
            }
        )
    )
    log(f"  {package}: installed {version} in {seconds:.0f} s")
    return PeerInstall(package, version, venv, seconds, cached=False, note=note)


def plotting_python(
    peers: list[PeerInstall], root: Path, log: Callable[[str], None]
) -> Path | None:
    """An interpreter with matplotlib, never Cairn's: a peer venv that has it (MLflow depends on
    it), else a small ``plot-matplotlib-<version>`` venv of its own."""
    for peer in peers:
        if peer.ok and _run([str(peer.python), "-c", "import matplotlib"], 120).returncode == 0:
            return peer.python
    tool = ensure_peer("matplotlib", root, log)
    return tool.python if tool.ok else None


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None
