"""How runs end when the training code does not end them: exceptions, signals, interpreter exit.

Installed once, by the first ``cairn.init`` of the process, and chained to whatever was there:

- ``sys.excepthook``: an uncaught exception marks every active run *failed* (``KeyboardInterrupt``:
  *killed*) with the end of the traceback, then the previous hook prints it as usual;
- ``SIGTERM``/``SIGHUP`` (schedulers, ``kill``, a closed terminal), only when installed from the
  main thread: active runs are marked *killed* and given ``SIGNAL_FINISH_S`` to deliver (what is
  left stays in the spool), then the previous handler runs, or the default action is re-raised so
  the exit status is what the sender of the signal expects;
- ``atexit``: runs still active at a normal exit are marked *finished*.

A SIGKILL cannot be caught: the spool keeps the run's events, and ``cairn sync`` or the next run on
the machine delivers them. The run then stays *running* in the portal until it is resumed.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

from cairn._payloads import status_changed

if TYPE_CHECKING:
    from cairn.run import Run

SIGNAL_FINISH_S = 5.0
_SIGNALS = tuple(
    s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None
)

_lock = threading.Lock()
_active: list[Run] = []
_installed = False
_previous_excepthook: Any = None
_previous_handlers: dict[int, Any] = {}


def register(run: Run) -> None:
    global _installed
    with _lock:
        _active.append(run)
        if _installed:
            return
        _installed = True
    _install()


def unregister(run: Run) -> None:
    with _lock:
        if run in _active:
            _active.remove(run)


def current() -> Run | None:
    with _lock:
        return _active[-1] if _active else None


def active() -> list[Run]:
    """Active runs, most recent first."""
    with _lock:
        return list(reversed(_active))


def _install() -> None:
    global _previous_excepthook
    _previous_excepthook = sys.excepthook
    sys.excepthook = _excepthook
    atexit.register(_at_exit)
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in _SIGNALS:
        previous = signal.getsignal(signum)
        if previous is signal.SIG_IGN:
            continue
        _previous_handlers[signum] = previous
        signal.signal(signum, _on_signal)


def _excepthook(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
    interrupted = isinstance(error, KeyboardInterrupt)
    for run in active():
        try:
            run.fail_with(error, killed=interrupted, exit_code=130 if interrupted else 1)
        except Exception as exc:  # never hide the user's traceback behind ours
            print(f"cairn: could not record the failure of run {run.id}: {exc!r}", file=sys.stderr)
    (_previous_excepthook or sys.__excepthook__)(kind, error, tb)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    name = signal.Signals(signum).name
    for run in active():
        try:
            change = status_changed("killed", reason=f"received {name}", exit_code=128 + signum)
            run._end(change, "killed", timeout_s=SIGNAL_FINISH_S)
        except Exception as exc:
            print(f"cairn: could not record that run {run.id} was killed: {exc!r}", file=sys.stderr)
    previous = _previous_handlers.get(signum, signal.SIG_DFL)
    if callable(previous):
        previous(signum, frame)
        return
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _at_exit() -> None:
    for run in active():
        try:
            run.finish()
        except Exception as exc:
            print(f"cairn: could not finish run {run.id}: {exc!r}", file=sys.stderr)
