"""``cairn.init``: check everything, then assemble a run's spool, threads and first events.

Order matters. All argument checks run first, so a bad project name or config raises before a
spool directory exists. Then the spool is opened and locked, the first events (``RunCreated`` or
``RunResumed``, the config as ``ParamsSet``, the tags) are buffered, and the background threads
start: the sender, the capture of code and environment, the system-metrics sampler and, online,
a one-off sweep that delivers spools left behind by earlier processes on this machine. Last,
init waits until those first events are in the spool, so the run survives a kill right after.

Sequence numbers (docs/sdk.md, "Ordering"): a new run starts at 1. A resumed run starts above
both what this machine knows about it (its spool, or the state saved when it last finished here)
and a time-derived floor, ``unix_ms << 16``. The floor keeps sequences increasing across machines
with no coordination: a session started later always starts higher, unless an earlier session
wrote more than 65,536 events per millisecond it ran, which the batching makes impossible.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn import _capture, _checks, _lifecycle
from cairn._branching import check_branching, read_fork_source
from cairn._buffer import Buffer, Payload
from cairn._flatten import flatten
from cairn._ids import uuid7
from cairn._payloads import params_set, tags_set
from cairn.config import Mode, Settings, resolve_settings
from cairn.errors import AlreadyExistsError, ConfigError
from cairn.run import Run
from cairn_contract.v1 import runs_pb2

if TYPE_CHECKING:
    from cairn._sender import Sender
    from cairn._spool import Spool
    from cairn._system_metrics import SystemSampler
    from cairn.sync import Sweep

log = logging.getLogger("cairn")


@dataclass(slots=True)
class RunParts:
    """The machinery behind a run; parts are None offline (no delivery) or disabled (nothing)."""

    buffer: Buffer
    sender: Sender | None = None
    spool: Spool | None = None
    sampler: SystemSampler | None = None
    capture: threading.Thread | None = None
    sweep: Sweep | None = None

    def stop_capture(self) -> None:
        """Stop sampling and sweeping; let the code/environment capture put its events first."""
        if self.sampler is not None:
            self.sampler.stop()
        if self.sweep is not None:
            self.sweep.stop()
        if self.capture is not None:
            self.capture.join(timeout=15)

    def shut_down(
        self,
        run_id: str,
        settings: Settings,
        next_step: int,
        timeout_s: float,
        *,
        since: float | None = None,
    ) -> None:
        """Spool everything, deliver within ``timeout_s``, close the spool (removing it once
        delivered) and say what is left and how it will get there."""
        sender, spool = self.sender, self.spool
        if sender is None or spool is None:
            return
        delivered = sender.stop(timeout_s, since=since)
        if sender.alive:
            log.error(
                "cairn: run %s did not stop sending; its spool stays in %s", run_id, spool.directory
            )
            return
        pending = spool.last_sequence - spool.acked_sequence
        save_resume_state(settings, run_id, spool.last_sequence, next_step)
        removed = spool.close(remove_if_delivered=delivered)
        if sender.dropped_points:
            log.warning(
                "cairn: run %s dropped %d metric points because its spool was full",
                run_id,
                sender.dropped_points,
            )
        if settings.mode is Mode.OFFLINE:
            log.warning(
                "cairn: offline run %s is saved in %s; upload it with `cairn sync`",
                run_id,
                spool.directory,
            )
        elif not removed:
            log.warning(
                "cairn: %d events of run %s are not delivered yet; they stay in %s and are sent by "
                "`cairn sync` or the next run on this machine",
                pending,
                run_id,
                spool.directory,
            )


# init() returns once the run's first events (RunCreated or RunResumed, params, tags) are in the
# spool: a process killed at any moment after init() leaves a run that `cairn sync`, or the next
# run on this machine, delivers. Without it a kill within the sender's first flush interval lost
# the run's creation while later writers (a sweep marking the trial killed) still named the run.
INIT_SPOOL_TIMEOUT_S = 10.0


def sequence_floor(now_ns: int | None = None) -> int:
    return ((time.time_ns() if now_ns is None else now_ns) // 1_000_000) << 16


def _state_path(settings: Settings, run_id: str) -> Path:
    return settings.dir / "runs" / f"{run_id}.json"


def save_resume_state(settings: Settings, run_id: str, last_sequence: int, next_step: int) -> None:
    """What a later ``resume`` on this machine continues from."""
    path = _state_path(settings, run_id)
    state = {
        "project": settings.project,
        "last_sequence": last_sequence,
        "next_step": next_step,
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(state))
    except OSError as exc:
        log.warning("cairn: could not save the resume state of run %s: %s", run_id, exc)


def _load_resume_state(settings: Settings, run_id: str) -> dict[str, Any]:
    try:
        raw = json.loads(_state_path(settings, run_id).read_text())
    except (OSError, ValueError):
        return {}
    return raw if isinstance(raw, dict) else {}


def start_run(
    *,
    project: str | None,
    name: str | None,
    config: Mapping[str, Any] | None,
    tags: Mapping[str, Any] | None,
    team: str | None,
    description: str | None,
    parent: Run | str | None,
    resume: str | None,
    run_id: str | None,
    mode: str | None,
    capture: Any,
    settings: Settings | None,
    overrides: Mapping[str, Any],
    sweep_id: str | None = None,
    fork_from: str | None = None,
    fork_step: int | None = None,
    rewind_to: int | None = None,
    started_at_ns: int | None = None,
) -> Run:
    fork_parent, fork_at, rewind_at = check_branching(
        fork_from, fork_step, resume, rewind_to, run_id
    )
    explicit = {"project": project, "team": team, "mode": mode, "capture": capture, **overrides}
    if settings is not None and any(v is not None for v in explicit.values()):
        raise ConfigError(
            "pass either settings= or individual settings, not both", field="settings"
        )
    if settings is None:
        if isinstance(parent, Run):  # a nested run lives where its parent does
            explicit["project"] = project or parent.project
            explicit["team"] = team or parent.team
        settings = resolve_settings(explicit)
        if resume is not None and project is None:  # resumed here: the project it started in
            remembered = _load_resume_state(settings, str(resume)).get("project")
            if isinstance(remembered, str) and remembered:
                settings = replace(settings, project=remembered)
    _check_settings(settings)
    team_slug = settings.team
    flat_config = flatten(config, "config") if config is not None else {}
    fork = None
    if fork_parent is not None and fork_at is not None and settings.mode is not Mode.DISABLED:
        fork = read_fork_source(settings, fork_parent, fork_at)
        flat_config = {**fork.params, **flat_config}  # the parent's params, then the overrides
    tag_message = tags_set(tags) if tags is not None else None
    if description is not None:
        _checks.check_text(description, "description", _checks.MAX_MARKDOWN_CHARS)
    parent_id = ""
    if parent is not None:
        parent_id = parent.id if isinstance(parent, Run) else _checks.check_id(parent, "parent")
    sweep = "" if sweep_id is None else _checks.check_id(sweep_id, "sweep_id")
    if resume is not None:
        identifier = _checks.check_id(resume, "resume")
    elif run_id is not None:
        identifier = _checks.check_id(run_id, "run_id")
    else:
        identifier = uuid7()
    script = _capture.entry_script()
    label = _checks.check_name(
        name
        if name is not None
        else f"{script.stem if script else 'run'}-{time.strftime('%Y%m%d-%H%M%S')}",
        "name",
    )
    buffer = Buffer(settings.buffer_max_points)
    parts = RunParts(buffer)
    first_step = 0
    if settings.mode is not Mode.DISABLED:
        first_step = _assemble(settings, parts, identifier, resume is not None, team_slug)
        if fork is not None:
            first_step = fork.step + 1
        if rewind_at is not None:
            first_step = rewind_at + 1
        now = time.time_ns()
        command = _capture.command_line() if settings.capture.command else []
        if resume is not None:
            resumed = runs_pb2.RunResumed(
                host=_capture.hostname(), command_line=command, resumed_at_ns=now
            )
            buffer.put(Payload("run_resumed", resumed, now))
            if rewind_at is not None:
                rewound = runs_pb2.RunRewound(to_step=rewind_at)
                buffer.put(Payload("run_rewound", rewound, now))
        else:
            created = runs_pb2.RunCreated(
                name=label,
                parent_run_id=parent_id,
                sweep_id=sweep,
                host=_capture.hostname(),
                command_line=command,
                started_at_ns=started_at_ns or now,
                description=description or "",
            )
            buffer.put(Payload("run_created", created, now))
            if fork is not None:
                forked = runs_pb2.RunForked(
                    parent_run_id=fork.parent_run_id,
                    fork_step=fork.step,
                    inherited_points=fork.points,
                )
                buffer.put(Payload("run_forked", forked, now))
        if flat_config:
            buffer.put(Payload("params_set", params_set(flat_config), now))
        if tag_message is not None and tag_message.tags:
            buffer.put(Payload("tags_set", tag_message, now))
        for series in fork.series if fork is not None else ():
            buffer.put(series)  # the parent's points up to the fork step, as this run's own
        _start_threads(settings, parts, identifier)
    else:
        buffer.put = _discard
    run = Run(
        run_id=identifier,
        name=label,
        team=team_slug,
        project=settings.project,
        settings=settings,
        parts=parts,
        parent_id=parent_id,
        first_step=first_step,
    )
    _lifecycle.register(run)
    if settings.mode is not Mode.DISABLED and not run.flush(INIT_SPOOL_TIMEOUT_S):
        log.warning("cairn: run %s's first events are not on disk yet", run.id)
    if run.url:
        log.info("cairn: recording run %s at %s", run.id, run.url)
    return run


def _check_settings(settings: Settings) -> None:
    if not settings.team:
        raise ConfigError(
            "no team: pass cairn.init(team=...), set CAIRN_TEAM, or run `cairn up` for the local stack",
            field="team",
        )
    _checks.check_slug(settings.team, "team")
    _checks.check_slug(settings.project, "project")
    if settings.mode is not Mode.ONLINE:
        return
    if not settings.ingest_url:
        raise ConfigError(
            "no ingest address: run `cairn up` (local stack), set CAIRN_INGEST_URL, "
            "or use mode='offline' and `cairn sync` later",
            field="ingest_url",
        )
    settings.target()
    if not settings.api_key:
        raise ConfigError(
            "no API key: run `cairn up` (local stack) or set CAIRN_API_KEY", field="api_key"
        )


def _discard(entry: object) -> None:
    return None


def _assemble(settings: Settings, parts: RunParts, run_id: str, resuming: bool, team: str) -> int:
    """Open the spool and build the sender; returns the first auto step."""
    from cairn import __version__
    from cairn._delivery import Delivery
    from cairn._packing import EventFactory, Packer
    from cairn._sender import Sender
    from cairn._spool import Spool, SpoolMeta
    from cairn._transport import GrpcTransport

    directory = settings.spool_root / run_id
    if not resuming and (
        (directory / "meta.json").exists() or _state_path(settings, run_id).exists()
    ):
        raise AlreadyExistsError(
            f"run_id: run {run_id} was already started on this machine; "
            "pass resume= to continue it (rule run_exists)",
            field="run_id",
            rule="run_exists",
        )
    meta = SpoolMeta(
        run_id=run_id,
        team=team,
        project=settings.project,
        mode=settings.mode.value,
        created_at_ns=time.time_ns(),
        host=_capture.hostname(),
    )
    spool = Spool.open(
        directory, meta, fsync=settings.spool_fsync, max_bytes=settings.spool_max_bytes
    )
    first_sequence, first_step = 1, 0
    if resuming:
        state = _load_resume_state(settings, run_id)
        known_sequence, first_step = (
            int(state.get("last_sequence", 0)),
            int(state.get("next_step", 0)),
        )
        first_sequence = max(spool.last_sequence, known_sequence) + 1
        first_sequence = max(first_sequence, sequence_floor())
    wake = threading.Event()
    delivery = None
    if settings.mode is Mode.ONLINE:
        target, tls = settings.target()
        transport = GrpcTransport(
            target, tls=tls, api_key=settings.api_key, sdk_version=__version__
        )
        delivery = Delivery(
            spool,
            transport,
            rejected_dir=settings.rejected_dir,
            wake=wake.set,
            send_interval_s=settings.send_interval_s,
        )
    packer = Packer(EventFactory(run_id, team, settings.project, first_sequence))
    parts.spool = spool
    parts.sender = Sender(
        parts.buffer,
        packer,
        spool,
        delivery,
        flush_interval_s=settings.flush_interval_s,
        name=f"cairn-sender-{run_id[:13]}",
        wake=wake,
    )
    return first_step


def _start_threads(settings: Settings, parts: RunParts, run_id: str) -> None:
    assert parts.sender is not None
    parts.sender.start()
    capture = settings.capture
    put = parts.buffer.put
    if capture.git or capture.environment or capture.packages or capture.gpu:
        parts.capture = threading.Thread(
            target=_capture_provenance, args=(settings, put), name="cairn-capture", daemon=True
        )
        parts.capture.start()
    if capture.system_metrics and settings.system_metrics_interval_s > 0:
        from cairn._system_metrics import SystemSampler

        parts.sampler = SystemSampler(
            put,
            interval_s=settings.system_metrics_interval_s,
            gpu=capture.gpu,
            disk_path=os.getcwd(),
        )
        parts.sampler.start()
    if settings.mode is Mode.ONLINE:
        from cairn.sync import Sweep

        parts.sweep = Sweep(settings, exclude=run_id)
        parts.sweep.start()


def _capture_provenance(settings: Settings, put: Any) -> None:
    capture = settings.capture
    try:
        if capture.git:
            code = _capture.capture_code(diff=capture.diff, max_diff_bytes=settings.max_diff_bytes)
            if code is not None:
                put(Payload("code_version_recorded", code, time.time_ns()))
        if capture.environment or capture.packages or capture.gpu:
            environment = _capture.capture_environment(
                environment=capture.environment,
                packages=capture.packages,
                gpu=capture.gpu,
                container=(settings.container_image, settings.container_digest),
            )
            put(Payload("environment_recorded", environment, time.time_ns()))
    except Exception:
        log.warning("cairn: capturing the run's code and environment failed", exc_info=True)
