"""The run's background thread: buffer → events → spool → ingest.

Every ``flush_interval_s`` (or sooner, when an ack arrives) it drains the buffer, packs what it
found into events, appends them to the spool, releases ``flush()`` waiters, and lets delivery send
and apply acks. The training thread never waits for any of it. A point therefore reaches the disk
within about ``flush_interval_s`` of ``run.log``; that window is the only thing a SIGKILL can
take (docs/sdk.md, "What can be lost").

When the spool is full (``CAIRN_SPOOL_MAX_BYTES``, the server having been unreachable for long)
the thread drops *metric points* (user and system) instead of blocking ``run.log``, and warns,
loudly and then once a minute, with the count. Everything else (status, params, tags, lineage,
comments) is still spooled: it is small and it is what makes the run make sense afterwards. The
reasoning: a training job that stalls because a tracking server is down is the failure users
complain about most; a gap in a loss curve is visible and counted.

When the training thread outpaces the packing (a tight loop), the buffer reaches its bound and
``run.log`` calls :meth:`Sender.relieve`: the caller packs and spools the backlog itself, under
the same lock as the sender's cycle, so events keep their order and the spool has one writer at a
time. That wait is the only one ``run.log`` can see: a bounded amount of CPU work (never the
network), and it is what keeps a training process's memory flat (docs/sdk.md, "Memory").
"""

from __future__ import annotations

import logging
import threading
import time

from cairn._buffer import Barrier, Buffer, Entry, Series, SystemSample
from cairn._delivery import Delivery
from cairn._packing import Packer, Record
from cairn._spool import Spool

log = logging.getLogger("cairn")

DROP_WARNING_INTERVAL_S = 60.0
RELIEF_RETRY_S = 1.0  # after the disk refused a relieving write, leave it to the thread this long
UNREACHABLE_FINISH_S = 10.0  # finish() waits at most this long for a server it cannot reach
# Part of that budget kept for what follows the wait: the last cycle, closing the channel.
_CLOSE_MARGIN_S = 1.5


class Sender:
    def __init__(
        self,
        buffer: Buffer,
        packer: Packer,
        spool: Spool,
        delivery: Delivery | None,
        *,
        flush_interval_s: float,
        name: str,
        wake: threading.Event | None = None,
    ) -> None:
        self.buffer = buffer
        self.packer = packer
        self.spool = spool
        self.delivery = delivery
        self.flush_interval_s = flush_interval_s
        self.dropped_points = 0
        self._last_drop_warning = 0.0
        self._last_failure_report = 0.0
        self._unwritten: list[Record] = []
        self._waiting: list[Barrier] = []  # flush() callers waiting for the unwritten records
        self._wake = wake or threading.Event()
        self._stopping = False
        self._deadline = 0.0
        self._stop_started = 0.0
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._lock = threading.Lock()  # one writer of the spool: this thread or a relieving caller
        self._relief_failed_at = -RELIEF_RETRY_S
        buffer.relieve = self.relieve

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout_s: float, *, since: float | None = None) -> bool:
        """Spool everything, give delivery up to ``timeout_s`` to get it acknowledged (less when
        the server is unreachable), close the connection and end the thread. True if nothing is
        left undelivered (always False offline). ``since`` (a ``time.monotonic()`` value) is when
        finishing began; the 10 s promised for an unreachable server count from then."""
        delivery = self.delivery
        self._stop_started = time.monotonic() if since is None else since
        if delivery is not None and delivery.outage is not None:
            delivery.retry_now()
            timeout_s = min(
                timeout_s, UNREACHABLE_FINISH_S - (time.monotonic() - self._stop_started)
            )
        self._deadline = time.monotonic() + timeout_s
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout_s + 10)
        return delivery is not None and delivery.done and not self._thread.is_alive()

    def _main(self) -> None:
        try:
            while True:
                self._wake.wait(self.flush_interval_s)
                self._wake.clear()
                stopping = self._stopping
                try:
                    self.cycle(flush=stopping)
                except Exception:
                    self._report_failure()
                    time.sleep(1.0)
                if stopping and self._finished():
                    return
        finally:
            if self.delivery is not None:
                try:
                    self.delivery.close()
                except Exception:
                    log.exception("cairn: closing the connection to ingest failed")

    def _finished(self) -> bool:
        now = time.monotonic()
        if now >= self._deadline:
            return True
        # An outage found while finishing (finish() right after logging, before any attempt
        # failed) shortens the wait too: docs/sdk.md promises at most 10 s then.
        unreachable = self.delivery is not None and self.delivery.outage is not None
        if unreachable and now >= self._stop_started + UNREACHABLE_FINISH_S - _CLOSE_MARGIN_S:
            return True
        settled = not len(self.buffer) and not self._unwritten
        return settled and (self.delivery is None or self.delivery.done)

    def _report_failure(self) -> None:
        """The first failure with its traceback, then one line a minute while it lasts."""
        now = time.monotonic()
        if self._last_failure_report == 0.0:
            log.exception("cairn: the background sender failed; retrying every second")
        elif now - self._last_failure_report >= DROP_WARNING_INTERVAL_S:
            log.warning("cairn: the background sender is still failing", exc_info=True)
        else:
            return
        self._last_failure_report = now

    def cycle(self, *, flush: bool = False) -> None:
        """One step; public so unit tests can drive the pipeline without the thread.

        Packed records the spool could not take (a full disk, say) are kept in order and
        written first next time; entries are only taken from the buffer once they can be."""
        with self._lock:
            if not self._spool_backlog():
                self.spool.maintain()
            if self.delivery is not None:
                self.delivery.pump(flush=flush)

    def relieve(self) -> None:
        """Pack and spool the buffer's backlog in the calling (training) thread: ``run.log``
        calls this when the buffer is past its bound. A failure is left for the sender thread to
        retry and report; the caller is never raised at, and does not retry for a second."""
        now = time.monotonic()
        if now - self._relief_failed_at < RELIEF_RETRY_S:
            return
        try:
            with self._lock:
                self._spool_backlog()
        except Exception:
            self._relief_failed_at = now
            self._wake.set()

    def _spool_backlog(self) -> bool:
        """Write what earlier failed, then drain, pack and spool the buffer (the lock held).
        True if there were entries."""
        if self._unwritten:
            self.spool.append(self._unwritten)
            self._release(self._waiting)
            self._unwritten, self._waiting = [], []
        entries = self.buffer.drain()
        if not entries:
            return False
        if self.spool.full:
            entries = self._drop_metrics(entries)
        records, barriers = self.packer.pack(entries)
        try:
            self.spool.append(records)
        except OSError:
            self._unwritten, self._waiting = records, barriers
            raise
        self._release(barriers)
        return True

    @staticmethod
    def _release(barriers: list[Barrier]) -> None:
        for barrier in barriers:
            barrier.done.set()

    def _drop_metrics(self, entries: list[Entry]) -> list[Entry]:
        kept: list[Entry] = []
        dropped = 0
        for entry in entries:
            if type(entry) is tuple:
                dropped += len(entry[2])
            elif isinstance(entry, Series | SystemSample):
                dropped += len(entry.values)
            else:
                kept.append(entry)
        if not dropped:
            return kept
        first = self.dropped_points == 0
        self.dropped_points += dropped
        now = time.monotonic()
        if first or now - self._last_drop_warning >= DROP_WARNING_INTERVAL_S:
            self._last_drop_warning = now
            log.warning(
                "cairn: the spool of run %s is full (%d bytes, CAIRN_SPOOL_MAX_BYTES=%d) because "
                "ingest has not acknowledged events for a while; %d metric points dropped so far. "
                "Status, params, tags and lineage are still kept.",
                self.spool.meta.run_id,
                self.spool.bytes_on_disk,
                self.spool.max_bytes,
                self.dropped_points,
            )
        return kept
