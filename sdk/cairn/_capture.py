"""What ``cairn.init`` records about where a run came from: code, environment, command line.

Runs in a background thread started by ``init`` (git and package listing take tens to hundreds of
milliseconds), and each part is switchable off (:class:`cairn.config.Capture`). Nothing here may
fail a run: a missing ``git``, a detached HEAD or an odd package degrade to an empty field, and
every captured string goes through :func:`cairn._checks.clean_text` so the server never rejects
what the SDK found on the machine.

Secrets: credentials embedded in a git remote URL (``https://user:token@host/...``) are removed
before anything is recorded. The diff is ``git diff HEAD`` of tracked files only (untracked files
are not read), cut to ``max_diff_bytes`` with ``diff_truncated`` set and ``diff_sha256`` of the
whole diff, so two runs' diffs can still be compared exactly.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from cairn._checks import MAX_NAME_CHARS, MAX_TEXT_CHARS, MAX_URI_CHARS, clean_text
from cairn_contract.v1 import provenance_pb2

GIT_TIMEOUT_S = 10.0
GPU_TIMEOUT_S = 10.0
_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_URL_CREDENTIALS = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*://)[^/@]*@")


def _name(value: object) -> str:
    return clean_text(value, MAX_NAME_CHARS, multiline=False)


# -- command line -----------------------------------------------------------------------------------


def command_line() -> list[str]:
    return [clean_text(arg, MAX_TEXT_CHARS) for arg in sys.argv[:1000]]


def hostname() -> str:
    return _name(socket.gethostname())


def entry_script() -> Path | None:
    """The script or module file being run, or None (interactive, notebook, ``-c``)."""
    first = sys.argv[0] if sys.argv else ""
    if not first or first in ("-c", "-m") or first.startswith("-"):
        return None
    path = Path(first)
    return path.resolve() if path.is_file() else None


# -- git ---------------------------------------------------------------------------------------------


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.decode(errors="replace").strip()


def redact_remote(url: str) -> str:
    """``https://user:token@github.com/org/repo`` -> ``https://github.com/org/repo``."""
    return _URL_CREDENTIALS.sub(r"\1", url.strip())


@dataclass(frozen=True, slots=True)
class Diff:
    text: str
    truncated: bool
    sha256: str


def read_diff(root: Path, max_bytes: int) -> Diff | None:
    """``git diff HEAD`` streamed: hashed whole, kept up to ``max_bytes``."""
    try:
        process = subprocess.Popen(
            ["git", "diff", "HEAD", "--no-color", "--no-ext-diff"],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"},
        )
    except OSError:
        return None
    digest = hashlib.sha256()
    kept = bytearray()
    total = 0
    assert process.stdout is not None
    with process.stdout:
        while chunk := process.stdout.read(1 << 16):
            digest.update(chunk)
            total += len(chunk)
            if len(kept) < max_bytes:
                kept += chunk[: max_bytes - len(kept)]
    try:
        process.wait(timeout=GIT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return None
    if process.returncode != 0:
        return None
    text = kept.decode(errors="replace")
    while len(text.encode()) > max_bytes:  # replacement characters may have grown it
        text = text[: -max(1, len(text) // 100)]
    return Diff(text, total > len(kept), digest.hexdigest())


def capture_code(
    *, diff: bool, max_diff_bytes: int, cwd: Path | None = None
) -> provenance_pb2.CodeVersionRecorded | None:
    """The git state of the working directory, or None outside a repository or without git."""
    if shutil.which("git") is None:
        return None
    here = cwd or Path.cwd()
    root_text = _git(["rev-parse", "--show-toplevel"], here)
    commit = _git(["rev-parse", "HEAD"], here)
    if not root_text or not commit or not _COMMIT.fullmatch(commit):
        return None
    root = Path(root_text)
    branch = _git(["symbolic-ref", "--short", "-q", "HEAD"], root) or ""
    remote_name = _git(["config", "--get", f"branch.{branch}.remote"], root) if branch else None
    remote = _git(["remote", "get-url", remote_name or "origin"], root) or ""
    status = _git(["status", "--porcelain", "--untracked-files=no"], root)
    recorded = provenance_pb2.CodeVersionRecorded(
        git_remote=clean_text(redact_remote(remote), MAX_URI_CHARS, multiline=False),
        branch=_name(branch),
        commit=commit,
        dirty=bool(status),
    )
    script = entry_script()
    if script is not None:
        try:
            recorded.entry_point = clean_text(
                script.relative_to(root.resolve()).as_posix(), MAX_URI_CHARS, multiline=False
            )
        except ValueError:
            recorded.entry_point = clean_text(str(script), MAX_URI_CHARS, multiline=False)
    if diff and recorded.dirty:
        found = read_diff(root, max_diff_bytes)
        if found is not None:
            recorded.diff = found.text
            recorded.diff_truncated = found.truncated
            recorded.diff_sha256 = found.sha256
    return recorded


# -- environment -------------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    if sys.platform == "darwin":
        try:
            done = subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"],
                capture_output=True,
                timeout=5,
                check=False,
            )
            return done.stdout.decode(errors="replace").strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor()


def _packages() -> list[provenance_pb2.Package]:
    from importlib import metadata

    seen: dict[str, provenance_pb2.Package] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if not name or name.lower() in seen:
            continue
        installer = (dist.read_text("INSTALLER") or "").strip().lower()
        seen[name.lower()] = provenance_pb2.Package(
            name=_name(name), version=_name(dist.version or ""), source=_name(installer)
        )
    return [seen[key] for key in sorted(seen)][:10_000]


def _nvidia_gpus() -> tuple[list[provenance_pb2.Gpu], str]:
    """GPUs and the driver's CUDA version from ``nvidia-smi``, if it is installed."""
    if shutil.which("nvidia-smi") is None:
        return [], ""
    query = [
        "nvidia-smi",
        "--query-gpu=name,memory.total,driver_version",
        "--format=csv,noheader,nounits",
    ]
    try:
        listing = subprocess.run(query, capture_output=True, timeout=GPU_TIMEOUT_S, check=False)
        banner = subprocess.run(
            ["nvidia-smi"], capture_output=True, timeout=GPU_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return [], ""
    gpus = []
    for line in listing.stdout.decode(errors="replace").splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 3 and parts[0]:
            memory = (
                int(float(parts[1]) * 1024 * 1024) if parts[1].replace(".", "").isdigit() else 0
            )
            gpus.append(
                provenance_pb2.Gpu(
                    name=_name(parts[0]), memory_bytes=memory, driver_version=_name(parts[2])
                )
            )
    cuda = re.search(r"CUDA Version:\s*([0-9.]+)", banner.stdout.decode(errors="replace"))
    return gpus, cuda.group(1) if cuda else ""


def _torch_details(recorded: provenance_pb2.EnvironmentRecorded) -> None:
    """CUDA and cuDNN versions (and GPUs if nvidia-smi found none) from torch, only if the
    training code already imported it: importing torch ourselves would cost seconds."""
    torch = sys.modules.get("torch")
    if torch is None:
        return
    try:
        cuda = getattr(torch.version, "cuda", None)
        if cuda and not recorded.cuda_version:
            recorded.cuda_version = _name(cuda)
        cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
        if cudnn:
            recorded.cudnn_version = _name(cudnn)
        if not recorded.gpus and torch.cuda.is_available():
            for index in range(torch.cuda.device_count()):
                props = torch.cuda.get_device_properties(index)
                recorded.gpus.add(name=_name(props.name), memory_bytes=int(props.total_memory))
    except Exception:  # torch in an odd state must not fail the run
        return


CONTAINERENV = Path("/run/.containerenv")
_CONTAINERENV_LINE = re.compile(r'^(image|imageid)="([^"]*)"$')


def container_image(given: tuple[str, str], containerenv: Path = CONTAINERENV) -> tuple[str, str]:
    """(image, digest) of the container the run is in: what the deployment stated (settings),
    else what podman writes into ``/run/.containerenv``; ('', '') outside a container or when
    the runtime does not say (Docker and Kubernetes do not tell a container its image digest)."""
    image, digest = given
    if not (image and digest):
        try:
            text = containerenv.read_text(errors="replace")
        except OSError:
            text = ""
        found: dict[str, str] = {}
        for line in text.splitlines():
            if match := _CONTAINERENV_LINE.match(line.strip()):
                found[match.group(1)] = match.group(2)
        image = image or found.get("image", "")
        image_id = found.get("imageid", "")
        digest = digest or (f"sha256:{image_id}" if re.fullmatch(r"[0-9a-f]{64}", image_id) else "")
    return _name(image), _name(digest)


def capture_environment(
    *, environment: bool, packages: bool, gpu: bool, container: tuple[str, str] = ("", "")
) -> provenance_pb2.EnvironmentRecorded:
    """The parts of the environment that are switched on; fields of the others stay empty."""
    recorded = provenance_pb2.EnvironmentRecorded()
    if environment:
        recorded.container_image, recorded.container_digest = container_image(container)
        import psutil

        recorded.python_version = platform.python_version()
        recorded.python_implementation = platform.python_implementation()
        recorded.os = _name(platform.system())
        recorded.os_version = _name(platform.release())
        recorded.cpu_model = _name(_cpu_model())
        recorded.cpu_count = os.cpu_count() or 0
        recorded.memory_bytes = psutil.virtual_memory().total
        recorded.hostname = hostname()
    if gpu:
        gpus, cuda = _nvidia_gpus()
        recorded.gpus.extend(gpus)
        recorded.cuda_version = _name(cuda)
        _torch_details(recorded)
    if packages:
        recorded.packages.extend(_packages())
    return recorded
