"""Delivery: moving a spool's unacknowledged events to ingest, and advancing the watermark.

The spool is the only queue. A stream sends batches read from the spool, keeping up to
``window`` of them in flight; each in-order ack moves the watermark and lets the spool delete
what is fully acknowledged. When a stream fails (server stopped, network gone, Kafka down behind
ingest) everything in flight simply counts as unsent: after a backoff a new stream starts again
at the watermark. The server may then see an event twice; its ``event_id`` makes the second copy
harmless, which is what "exactly once in effect" means here (docs/architecture.md, invariant 4).

Rejections come in three kinds:

- authentication or permission (bad key, wrong team): nothing can be sent with these settings,
  so delivery stops for ``AUTH_RETRY_S`` and the events wait in the spool for a corrected run or
  ``cairn sync``;
- ``unavailable``/``internal``/``resource_exhausted``: transient, treated like a failed stream;
- anything else (``invalid_argument``): the batch can never be accepted. Its events are moved to
  ``<CAIRN_DIR>/rejected/`` with the server's reason, and delivery goes on. The SDK checks calls
  at the call site, so this means the SDK and server disagree on a rule: a bug to report.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from cairn._spool import Position, Spool, encode_records
from cairn._transport import Ack, Rejection, Stream, Transport, encode_batch
from cairn.errors import CairnError, ErrorCode

log = logging.getLogger("cairn")

AUTH_RETRY_S = 60.0
MIN_BACKOFF_S = 0.5
MAX_BACKOFF_S = 8.0
# A rejection's reason is the server's ErrorCode value (ingest/status_codes.py sends it).
TRANSIENT_REASONS = frozenset(
    {ErrorCode.UNAVAILABLE, ErrorCode.INTERNAL, ErrorCode.RESOURCE_EXHAUSTED}
)
AUTH_REASONS = frozenset({ErrorCode.UNAUTHENTICATED, ErrorCode.PERMISSION_DENIED})


@dataclass(frozen=True, slots=True)
class _InFlight:
    batch_id: int
    last_sequence: int
    start: Position
    end: Position
    events: int


class Delivery:
    def __init__(
        self,
        spool: Spool,
        transport: Transport,
        *,
        rejected_dir: Path,
        wake: Callable[[], None],
        send_interval_s: float = 0.25,
        max_batch_bytes: int = 1 << 20,
        max_batch_events: int = 2_000,
        window: int = 8,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.spool = spool
        self.transport = transport
        self.rejected_dir = rejected_dir
        self.send_interval_s = send_interval_s
        self.max_batch_bytes = max_batch_bytes
        self.max_batch_events = max_batch_events
        self.window = window
        self._wake = wake
        self._clock = clock
        self._stream: Stream | None = None
        self._in_flight: deque[_InFlight] = deque()
        self._send_position = spool.acked_position
        self._last_sent = spool.acked_sequence
        self._last_send_at = -1e18
        self._batch_id = 0
        self._backoff = 0.0
        self._next_attempt = 0.0
        self._outage: str | None = None  # what went wrong, while it stays wrong
        self.delivered_events = 0
        self.rejected_events = 0

    # -- state -----------------------------------------------------------------------------------

    @property
    def done(self) -> bool:
        return not self.spool.pending

    @property
    def pending_events(self) -> int:
        return self.spool.last_sequence - self.spool.acked_sequence

    @property
    def outage(self) -> str | None:
        """What went wrong, from the first failure until an ack shows delivery works again."""
        return self._outage

    def retry_now(self) -> None:
        """Skip the current backoff (finish() gives an unreachable server one more chance)."""
        self._next_attempt = 0.0

    # -- the step the sender thread calls ----------------------------------------------------------

    def pump(self, *, flush: bool = False) -> None:
        stream = self._stream
        if stream is not None:
            self._apply(stream.poll())
            if self._stream is not None and (failure := stream.failure) is not None:
                self._drop(failure.code, failure.message, auth=failure.auth)
        if self._stream is None:
            if not self.spool.pending or self._clock() < self._next_attempt:
                return
            self._open()
        self._send(flush)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        self.transport.close()

    # -- internals -------------------------------------------------------------------------------

    def _open(self) -> None:
        try:
            self._stream = self.transport.open(self._wake)
        except CairnError:
            raise
        except Exception as exc:  # channel creation failing is an outage like any other
            self._schedule_retry("OPEN", repr(exc))
            return
        self._in_flight.clear()
        self._send_position = self.spool.acked_position
        self._last_sent = self.spool.acked_sequence

    def _send(self, flush: bool) -> None:
        stream = self._stream
        now = self._clock()
        while stream is not None and len(self._in_flight) < self.window:
            if self._last_sent >= self.spool.last_sequence:
                return
            due = flush or now - self._last_send_at >= self.send_interval_s
            if not due and self.spool.bytes_after(self._send_position) < self.max_batch_bytes:
                return
            records, end = self.spool.read(
                self._send_position, self.max_batch_bytes, self.max_batch_events
            )
            if not records:
                return
            self._batch_id += 1
            stream.send(encode_batch(self._batch_id, records))
            self._in_flight.append(
                _InFlight(
                    self._batch_id, records[-1].sequence, self._send_position, end, len(records)
                )
            )
            self._send_position = end
            self._last_sent = records[-1].sequence
            self._last_send_at = now

    def _apply(self, acks: list[Ack]) -> None:
        for ack in acks:
            if not self._in_flight or ack.batch_id != self._in_flight[0].batch_id:
                expected = self._in_flight[0].batch_id if self._in_flight else None
                self._drop("PROTOCOL", f"ack for batch {ack.batch_id}, expected {expected}")
                return
            head = self._in_flight.popleft()
            if ack.rejection is None:
                self.spool.ack(head.last_sequence, head.end)
                self.delivered_events += head.events
                if self._outage is not None:
                    log.warning(
                        "cairn: delivery to %s resumed; %d events still to send",
                        self.transport.address,
                        self.pending_events,
                    )
                self._outage = None
                self._backoff = 0.0
            elif not self._rejected(head, ack.rejection):
                return

    def _rejected(self, head: _InFlight, rejection: Rejection) -> bool:
        """Handle a rejected batch; False when the stream was dropped (stop applying acks)."""
        if rejection.reason in AUTH_REASONS:
            self._drop(rejection.reason, rejection.message, auth=True)
            return False
        if rejection.reason in TRANSIENT_REASONS:
            self._drop(rejection.reason, rejection.message)
            return False
        self._quarantine(head, rejection)
        self.spool.ack(head.last_sequence, head.end)
        return True

    def _quarantine(self, head: _InFlight, rejection: Rejection) -> None:
        records, _ = self.spool.read(head.start, 1 << 62, head.events)
        self.rejected_dir.mkdir(parents=True, exist_ok=True)
        stem = f"{self.spool.meta.run_id}-{records[0].sequence}-{head.last_sequence}"
        (self.rejected_dir / f"{stem}.spool").write_bytes(encode_records(records))
        (self.rejected_dir / f"{stem}.json").write_text(json.dumps(asdict(rejection), indent=1))
        self.rejected_events += head.events
        log.error(
            "cairn: ingest rejected %d events of run %s: %s. They were moved to %s; "
            "please report this (the SDK should have refused them at the call site).",
            head.events,
            self.spool.meta.run_id,
            rejection.message,
            self.rejected_dir / f"{stem}.spool",
        )

    def _drop(self, code: str, message: str, *, auth: bool = False) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        self._in_flight.clear()
        if auth:
            self._outage = f"{code}: {message}"
            self._next_attempt = self._clock() + AUTH_RETRY_S
            log.error(
                "cairn: ingest at %s refused run %s (%s). Events stay in %s; fix the API key or "
                "team, then run `cairn sync`.",
                self.transport.address,
                self.spool.meta.run_id,
                self._outage,
                self.spool.directory,
            )
        else:
            self._schedule_retry(code, message)

    def _schedule_retry(self, code: str, message: str) -> None:
        self._backoff = min(MAX_BACKOFF_S, max(MIN_BACKOFF_S, self._backoff * 2))
        self._next_attempt = self._clock() + self._backoff * random.uniform(0.8, 1.2)  # noqa: S311 (jitter)
        if self._outage is None:
            log.warning(
                "cairn: cannot deliver to ingest at %s (%s: %s); events are kept in %s and sent "
                "when it is reachable again",
                self.transport.address,
                code,
                message,
                self.spool.directory,
            )
        self._outage = f"{code}: {message}"
