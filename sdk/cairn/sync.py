"""Delivering spools left on this machine: ``cairn sync``, and the sweep each online run starts.

A spool outlives its process when the run was offline, when the server could not be reached
before ``finish`` gave up, or when the process died (SIGKILL, OOM killer, power cut). Each
spool is locked by whoever delivers it, so ``cairn sync``, a sweeping run and a live run never
send the same spool at once; a spool whose lock is held belongs to a live process and is
skipped. Offline runs are uploaded only by an explicit ``cairn sync``: going offline is often a
choice (an air-gapped machine, a trial run), and a later run should not override it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from cairn._delivery import Delivery
from cairn._spool import META, Spool, SpoolMeta, is_locked
from cairn._transport import GrpcTransport, Transport
from cairn.config import Mode, Settings
from cairn.errors import CairnError, FailedPreconditionError

log = logging.getLogger("cairn")

STALL_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class SpooledRun:
    run_id: str
    directory: Path
    mode: str
    bytes: int
    in_use: bool  # a live process holds it


@dataclass(frozen=True, slots=True)
class SyncResult:
    run_id: str
    delivered: int  # events acknowledged by this sync
    remaining: int  # events still in the spool (-1: not looked at)
    note: str = ""  # why something was skipped or is left

    @property
    def complete(self) -> bool:
        return self.remaining == 0


def spooled_runs(settings: Settings) -> list[SpooledRun]:
    """Every run with a spool under ``settings.dir``, oldest first."""
    found = []
    root = settings.spool_root
    directories = sorted(root.iterdir()) if root.is_dir() else []
    for directory in directories:
        if not (directory / META).is_file():
            continue
        try:
            meta = SpoolMeta.read(directory)
        except (CairnError, ValueError, TypeError):
            continue
        size = sum(p.stat().st_size for p in directory.glob("*.seg"))
        found.append(SpooledRun(meta.run_id, directory, meta.mode, size, is_locked(directory)))
    return found


def _transport(settings: Settings) -> Transport:
    from cairn import __version__

    target, tls = settings.target()
    return GrpcTransport(target, tls=tls, api_key=settings.api_key, sdk_version=__version__)


def deliver(
    directory: Path,
    settings: Settings,
    *,
    stall_timeout_s: float = STALL_TIMEOUT_S,
    stop: threading.Event | None = None,
    transport: Transport | None = None,
) -> SyncResult:
    """Send one spool's pending events; give up after ``stall_timeout_s`` without progress. The
    spool directory is removed once everything is acknowledged."""
    try:
        spool = Spool.open(directory, fsync=settings.spool_fsync, max_bytes=1 << 62)
    except FailedPreconditionError:
        return SyncResult(directory.name, 0, -1, "in use by a running process")
    try:
        if not spool.pending:
            return SyncResult(spool.meta.run_id, 0, 0)
        wake = threading.Event()
        delivery = Delivery(
            spool,
            transport or _transport(settings),
            rejected_dir=settings.rejected_dir,
            wake=wake.set,
            send_interval_s=0.0,
        )
        acked, progress_at = spool.acked_sequence, time.monotonic()
        try:
            while not delivery.done and not (stop is not None and stop.is_set()):
                delivery.pump(flush=True)
                if spool.acked_sequence != acked:
                    acked, progress_at = spool.acked_sequence, time.monotonic()
                elif time.monotonic() - progress_at > stall_timeout_s:
                    break
                wake.wait(0.05)
                wake.clear()
        finally:
            delivery.close()
        return SyncResult(
            spool.meta.run_id,
            delivery.delivered_events,
            delivery.pending_events,
            delivery.outage or "",
        )
    finally:
        spool.close(remove_if_delivered=True)


def sync(
    settings: Settings,
    *,
    run_ids: Collection[str] = (),
    include_offline: bool = True,
    exclude: Collection[str] = (),
    stall_timeout_s: float = STALL_TIMEOUT_S,
    stop: threading.Event | None = None,
) -> list[SyncResult]:
    """Deliver every spooled run (or only ``run_ids``) not held by a live process."""
    results = []
    for spooled in spooled_runs(settings):
        if (run_ids and spooled.run_id not in run_ids) or spooled.run_id in exclude:
            continue
        if stop is not None and stop.is_set():
            break
        if spooled.in_use:
            results.append(SyncResult(spooled.run_id, 0, -1, "in use by a running process"))
            continue
        if spooled.mode == Mode.OFFLINE.value and not include_offline:
            continue
        results.append(
            deliver(spooled.directory, settings, stall_timeout_s=stall_timeout_s, stop=stop)
        )
    return results


class Sweep:
    """A background delivery of spools earlier processes left behind (not offline ones)."""

    def __init__(self, settings: Settings, exclude: str) -> None:
        self._settings = settings
        self._exclude = exclude
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="cairn-sweep", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _main(self) -> None:
        try:
            results = sync(
                self._settings, include_offline=False, exclude={self._exclude}, stop=self._stop
            )
        except Exception:
            log.warning("cairn: delivering spools of earlier runs failed", exc_info=True)
            return
        for result in results:
            if result.delivered:
                log.info(
                    "cairn: delivered %d events that run %s had left in its spool",
                    result.delivered,
                    result.run_id,
                )
