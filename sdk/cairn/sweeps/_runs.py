"""Opening a sweep's runs again from whichever process needs to, and telling dead processes
from live ones.

The runs of a sweep are written by several processes in turn: the sweep run by whoever creates
it, joins or finishes the sweep; a trial's run by the process that runs it and, when that process
dies, by the one that notices. Each takes the run with ``cairn.init(resume=...)`` and lets it go
with ``Run.detach()`` (the status stays) or ``finish``. On one machine the run's spool is locked
while a process holds it, so :func:`resume` retries for a moment (``cairn sync`` or a run's
start-up may be delivering a spool a dead process left behind).
"""

from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING, Any

from cairn.errors import FailedPreconditionError

if TYPE_CHECKING:
    from cairn.config import Settings
    from cairn.run import Run

log = logging.getLogger("cairn")

RESUME_ATTEMPTS = 40
RESUME_PAUSE_S = 0.25


def resume(settings: Settings, run_id: str) -> Run | None:
    """The run, resumed in this process; None when another live process keeps holding it."""
    import cairn

    for attempt in range(RESUME_ATTEMPTS):
        try:
            return cairn.init(resume=run_id, settings=settings)
        except FailedPreconditionError as exc:
            if exc.rule != "spool_locked":
                raise
            if attempt == RESUME_ATTEMPTS - 1:
                log.warning("cairn: run %s stays with another process: %s", run_id, exc)
        time.sleep(RESUME_PAUSE_S)
    return None


def this_process() -> dict[str, Any]:
    """What identifies this process on this machine, pid reuse included."""
    import psutil

    from cairn._capture import hostname

    return {
        "host": hostname(),
        "pid": os.getpid(),
        "started": psutil.Process().create_time(),
    }


def is_dead(process: object, host: str) -> bool:
    """True when ``process`` (from :func:`this_process`) ran on ``host`` and is gone; unknown
    or remote processes are never declared dead here."""
    import psutil

    if not isinstance(process, dict) or process.get("host") != host:
        return False
    try:
        found = psutil.Process(int(process["pid"]))
        if abs(found.create_time() - float(process["started"])) > 1.0:
            return True  # the pid now belongs to another process
        return found.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
    except (KeyError, TypeError, ValueError, psutil.Error):
        return False
