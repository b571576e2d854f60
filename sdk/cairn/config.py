"""The SDK's settings: one frozen value, resolved once per run by :func:`resolve_settings`.

Each setting comes from the first place that has it:

1. an explicit argument to ``cairn.init`` (or to :func:`resolve_settings`);
2. a ``CAIRN_*`` environment variable;
3. the local-stack file ``cairn up`` writes (``CAIRN_LOCAL_STACK_FILE``, by default
   ``~/.cairn/local-stack.json``);
4. the default below.

:func:`resolve_settings` and :func:`read_handover` are the only places in the SDK that read the
environment (besides the ``cairn`` command's own flags); everything else receives a
:class:`Settings` or a :class:`Handover`, so tests build one directly and behaviour never depends
on the process environment by accident.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from cairn.errors import ConfigError

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

_TARGET = re.compile(r"(?:(grpcs?)://)?([^/\s,]+):(\d{1,5})/?")


class Mode(StrEnum):
    ONLINE = "online"  # spool on disk and stream to ingest in the background
    OFFLINE = "offline"  # spool on disk only; `cairn sync` uploads later
    DISABLED = "disabled"  # check every call, record nothing (quick experiments, tests)


class FsyncPolicy(StrEnum):
    ALWAYS = "always"  # fsync every spool append before it is sent: survives power loss
    INTERVAL = "interval"  # fsync at most once per second: a power cut may lose ~1 s
    NEVER = "never"  # leave it to the OS; a process crash still loses nothing written


@dataclass(frozen=True, slots=True)
class Capture:
    """What ``cairn.init`` records automatically; each switch is independent."""

    git: bool = True  # remote, branch, commit, dirty flag
    diff: bool = True  # the uncommitted diff (size-capped); needs git
    environment: bool = True  # Python, OS, CPU, memory, hostname
    packages: bool = True  # installed distributions and versions
    gpu: bool = True  # GPUs via nvidia-smi, CUDA/cuDNN via torch when already imported
    command: bool = True  # argv and the entry script
    system_metrics: bool = True  # CPU, memory, disk, network, GPU sampled in the background

    @classmethod
    def nothing(cls) -> Capture:
        return cls(**{f.name: False for f in fields(cls)})

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def without(self, names: Iterable[str], *, source: str) -> Capture:
        """A copy with the named switches off; ``"all"`` turns everything off."""
        wanted = {n.strip().lower() for n in names if n.strip()}
        if "all" in wanted:
            return Capture.nothing()
        unknown = wanted - set(self.names())
        if unknown:
            raise ConfigError(
                f"{source}: unknown capture {sorted(unknown)}; known: {', '.join(self.names())}",
                field=source,
            )
        return replace(self, **dict.fromkeys(wanted, False))


@dataclass(frozen=True, slots=True)
class Settings:
    ingest_url: str = ""  # "host:port" (plaintext) or "grpcs://host:port" (TLS)
    api_key: str = ""
    team: str = ""
    project: str = "default"
    portal_url: str = ""
    dir: Path = field(default_factory=lambda: Path.home() / ".cairn")
    mode: Mode = Mode.ONLINE
    artifact_store: str = ""  # a directory or fsspec URL; "" means <dir>/artifacts
    spool_max_bytes: int = 1 * GIB  # per run
    spool_fsync: FsyncPolicy = FsyncPolicy.INTERVAL
    flush_interval_s: float = 0.05  # how long a logged point may wait in memory
    # Points a run may hold in memory before run.log packs and spools them itself (~240 B each)
    buffer_max_points: int = 100_000
    send_interval_s: float = 0.25  # how long a spooled event may wait before it is sent
    finish_timeout_s: float = 30.0  # how long finish() waits for acks before leaving the spool
    system_metrics_interval_s: float = 10.0
    max_diff_bytes: int = 1 * MIB
    # The container image the run is in and its digest, when the deployment states them
    # (CAIRN_CONTAINER_IMAGE / CAIRN_CONTAINER_DIGEST, e.g. set from the pod spec); under podman
    # they are read from /run/.containerenv when not given.
    container_image: str = ""
    container_digest: str = ""
    capture: Capture = field(default_factory=Capture)

    @property
    def spool_root(self) -> Path:
        return self.dir / "spool"

    @property
    def rejected_dir(self) -> Path:
        return self.dir / "rejected"

    @property
    def artifact_location(self) -> str:
        return self.artifact_store or str(self.dir / "artifacts")

    def addresses(self) -> tuple[tuple[str, ...], bool]:
        """The gRPC addresses in ``ingest_url`` and whether to use TLS: the one parser of the
        setting, used by the write path (:class:`cairn._transport.GrpcTransport`) and the read
        path (:class:`cairn._query_client.QueryClient`) alike.

        ``ingest_url`` is one ``host:port`` (or ``grpcs://host:port``), or a comma-separated list
        of them: the replicas of ingest (each also serves the query service), which the SDK
        spreads over and fails over between. All entries must use the same scheme. Addresses come
        back as ``host:port``, in the order given.
        """
        targets, schemes = [], set()
        for entry in self.ingest_url.split(","):
            match = _TARGET.fullmatch(entry.strip())
            if match is None:
                raise ConfigError(
                    f"ingest_url must look like host:port or grpcs://host:port (or a "
                    f"comma-separated list of them), got {self.ingest_url!r}",
                    field="ingest_url",
                )
            scheme, host, port = match.groups()
            targets.append(f"{host}:{port}")
            schemes.add(scheme == "grpcs")
        if len(schemes) > 1:
            raise ConfigError(
                f"ingest_url entries must all use TLS or none, got {self.ingest_url!r}",
                field="ingest_url",
            )
        return tuple(targets), schemes.pop()

    def target(self) -> tuple[str, bool]:
        """:meth:`addresses` as one ``host:port[,host:port...]`` string, and whether to use TLS
        (:func:`split_target` turns the string back into the addresses)."""
        addresses, tls = self.addresses()
        return ",".join(addresses), tls


# What a parent process hands the training process it starts (docs/sdk.md, docs/sweeps.md,
# docs/reproduce.md): the variable names are the protocol between the two processes.
RESUME_VARIABLE = "CAIRN_RESUME"  # the run id the first cairn.init() of the process continues
REPRODUCTION_VARIABLE = "CAIRN_REPRODUCTION"  # a reproduction context (JSON) from `cairn reproduce`
SWEEP_CHANNEL_VARIABLE = (
    "CAIRN_SWEEP_CHANNEL"  # "<write fd>,<read fd>" of the pipe to `cairn sweep`
)
SWEEP_PARAMS_VARIABLE = "CAIRN_SWEEP_PARAMS"  # the trial's params as a JSON object
SWEEP_OBJECTIVES_VARIABLE = "CAIRN_SWEEP_OBJECTIVES"  # the objective metric names as a JSON list


@dataclass(frozen=True, slots=True)
class Handover:
    """What the process that started this one (``cairn sweep``, ``cairn reproduce``, a resumed
    job's launcher) passed down in ``CAIRN_*`` variables; each field is ``""`` when not given.

    Read by :func:`read_handover`; the SDK's modules receive this value rather than reading the
    variables themselves."""

    resume: str = ""  # CAIRN_RESUME, stripped
    reproduction: str = ""  # CAIRN_REPRODUCTION, stripped; decoded by cairn.reproduce
    sweep_channel: str = ""  # CAIRN_SWEEP_CHANNEL
    sweep_params: str = ""  # CAIRN_SWEEP_PARAMS
    sweep_objectives: str = ""  # CAIRN_SWEEP_OBJECTIVES


def read_handover(env: Mapping[str, str] | None = None) -> Handover:
    """The :class:`Handover` in ``env`` (default ``os.environ``), read at the time of the call."""
    environ = os.environ if env is None else env
    return Handover(
        resume=environ.get(RESUME_VARIABLE, "").strip(),
        reproduction=environ.get(REPRODUCTION_VARIABLE, "").strip(),
        sweep_channel=environ.get(SWEEP_CHANNEL_VARIABLE, ""),
        sweep_params=environ.get(SWEEP_PARAMS_VARIABLE, ""),
        sweep_objectives=environ.get(SWEEP_OBJECTIVES_VARIABLE, ""),
    )


def split_target(target: str) -> list[str]:
    """The addresses of a target string from :meth:`Settings.target` (``a:1,b:2``)."""
    return [t.strip() for t in target.split(",") if t.strip()]


def local_stack_file(env: Mapping[str, str]) -> Path:
    """Where ``cairn up`` describes the local stack: ``CAIRN_LOCAL_STACK_FILE`` (which ``cairn up``
    honours too) or ``~/.cairn/local-stack.json``."""
    configured = env.get("CAIRN_LOCAL_STACK_FILE", "")
    return (
        Path(configured).expanduser() if configured else Path.home() / ".cairn" / "local-stack.json"
    )


def resolve_settings(
    explicit: Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    stack_file: Path | None = None,
) -> Settings:
    """Merge explicit values, ``CAIRN_*`` variables and the local-stack file into Settings.

    ``explicit`` holds :class:`Settings` field names; ``None`` values count as not given.
    ``env`` defaults to ``os.environ`` and ``stack_file`` to :func:`local_stack_file`.
    """
    given = {k: v for k, v in (explicit or {}).items() if v is not None}
    unknown = set(given) - {f.name for f in fields(Settings)}
    if unknown:
        raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")
    environ = os.environ if env is None else env
    stack = _read_stack_file(stack_file or local_stack_file(environ))
    values: dict[str, Any] = {}
    for name, variable, parse in _SOURCES:
        if name in given:
            values[name] = given[name]
        elif variable in environ and environ[variable] != "":
            values[name] = parse(environ[variable], variable)
        elif name in stack:
            values[name] = stack[name]
    capture = given.get("capture")
    if capture is None:
        capture = Capture()
        off = environ.get("CAIRN_CAPTURE_OFF", "")
        if off:
            capture = capture.without(off.split(","), source="CAIRN_CAPTURE_OFF")
    values["capture"] = _capture(capture)
    if "dir" in values:
        values["dir"] = Path(values["dir"]).expanduser()
    if "mode" in values:
        values["mode"] = _enum(Mode, values["mode"], "mode")
    if "spool_fsync" in values:
        values["spool_fsync"] = _enum(FsyncPolicy, values["spool_fsync"], "spool_fsync")
    return Settings(**values)


def _capture(value: object) -> Capture:
    if isinstance(value, Capture):
        return value
    if value is True:
        return Capture()
    if value is False:
        return Capture.nothing()
    if isinstance(value, Mapping):
        unknown = set(value) - set(Capture.names())
        if unknown:
            raise ConfigError(
                f"capture: unknown {sorted(map(str, unknown))}; known: {', '.join(Capture.names())}",
                field="capture",
            )
        return replace(Capture(), **{str(k): bool(v) for k, v in value.items()})
    raise ConfigError(
        f"capture must be True, False, a Capture or a mapping of switches, got {value!r}",
        field="capture",
    )


def _enum(kind: type[StrEnum], value: object, name: str) -> Any:
    try:
        return kind(str(value).lower())
    except ValueError:
        choices = ", ".join(member.value for member in kind)
        raise ConfigError(f"{name} must be one of {choices}, got {value!r}", field=name) from None


def _text(raw: str, variable: str) -> str:
    return raw.strip()


def _positive_int(raw: str, variable: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{variable} must be an integer, got {raw!r}", field=variable) from None
    if value <= 0:
        raise ConfigError(f"{variable} must be > 0, got {value}", field=variable)
    return value


def _seconds(raw: str, variable: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{variable} must be a number, got {raw!r}", field=variable) from None
    if value < 0:
        raise ConfigError(f"{variable} must be >= 0, got {value}", field=variable)
    return value


_SOURCES = (
    ("ingest_url", "CAIRN_INGEST_URL", _text),
    ("api_key", "CAIRN_API_KEY", _text),
    ("team", "CAIRN_TEAM", _text),
    ("project", "CAIRN_PROJECT", _text),
    ("portal_url", "CAIRN_PORTAL_URL", _text),
    ("dir", "CAIRN_DIR", _text),
    ("mode", "CAIRN_MODE", _text),
    ("artifact_store", "CAIRN_ARTIFACT_STORE", _text),
    ("container_image", "CAIRN_CONTAINER_IMAGE", _text),
    ("container_digest", "CAIRN_CONTAINER_DIGEST", _text),
    ("spool_max_bytes", "CAIRN_SPOOL_MAX_BYTES", _positive_int),
    ("spool_fsync", "CAIRN_SPOOL_FSYNC", _text),
    ("buffer_max_points", "CAIRN_BUFFER_MAX_POINTS", _positive_int),
    ("finish_timeout_s", "CAIRN_FINISH_TIMEOUT", _seconds),
    ("system_metrics_interval_s", "CAIRN_SYSTEM_METRICS_INTERVAL", _seconds),
)

# Keys of local-stack.json that map to settings; anything else in the file is ignored.
_STACK_KEYS = ("ingest_url", "api_key", "team", "portal_url", "artifact_store")


def _read_stack_file(path: Path) -> dict[str, str]:
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} is not readable JSON: {exc}", field=str(path)) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a JSON object", field=str(path))
    return {k: str(raw[k]) for k in _STACK_KEYS if raw.get(k)}
