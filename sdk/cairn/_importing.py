"""What every ``cairn import ...`` shares: derived run ids, the "already imported?" question,
starting a run with its original start time, a progress bar and the summary.

Importers are idempotent by construction. A run's Cairn id is derived from the source's own id
(:func:`derived_run_id`), so importing the same source twice names the same runs. Before sending
a run, the importer asks the query service whether that id exists (:func:`run_exists`) and skips
it when it does ("already imported"); a run this machine started moments ago but the processors
have not projected yet is caught by the SDK's own spool check (``AlreadyExistsError``).
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import IO, Any

from cairn.config import Capture, Settings
from cairn.errors import NotFoundError, PermissionDeniedError

SOURCE_TAG = "cairn.import.source"
ORIGINAL_ID_TAG = "cairn.import.original_id"


def derived_run_id(source: str, original_id: str, started_at_s: float) -> str:
    """A UUIDv7-shaped id fixed by ``source`` (``"mlflow"``) and the source's own id; its time
    is the run's start, so imported runs sort by when they ran."""
    digest = hashlib.sha256(f"{source}\n{original_id}".encode()).digest()
    return uuid7_shaped(digest, started_at_s)


def uuid7_shaped(digest: bytes, started_at_s: float) -> str:
    """A UUIDv7 whose 48-bit time is ``started_at_s`` and whose random bits come from ``digest``."""
    millis = max(0, int(started_at_s * 1000)) & 0xFFFF_FFFF_FFFF
    bits = int.from_bytes(digest[:10], "big")
    value = millis << 80 | 0x7 << 76 | (bits >> 68) << 64 | 0b10 << 62 | bits & ((1 << 62) - 1)
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def run_exists(settings: Settings, run_id: str) -> bool:
    """Whether the query service knows ``run_id`` (a run the key may not see counts as
    existing: ingest would refuse to create it again)."""
    from cairn._query_client import QueryClient
    from cairn.v1 import query_pb2

    client = QueryClient(settings, timeout_s=30.0)
    try:
        client.call("GetRun", query_pb2.GetRunRequest(run_id=run_id))
    except NotFoundError:
        return False
    except PermissionDeniedError:
        return True
    finally:
        client.close()
    return True


def start_imported_run(
    settings: Settings,
    *,
    run_id: str,
    name: str,
    config: Mapping[str, Any],
    tags: Mapping[str, Any],
    parent_id: str = "",
    description: str | None = None,
    started_at_ns: int | None = None,
) -> Any:
    """``cairn.init`` for an imported run: nothing of this machine captured (no git, packages,
    system metrics or command line), the source's start time kept."""
    from cairn._start import start_run

    return start_run(
        project=None,
        name=name,
        config=config,
        tags=tags,
        team=None,
        description=description,
        parent=parent_id or None,
        resume=None,
        run_id=run_id,
        mode=None,
        capture=None,
        settings=replace(settings, capture=Capture.nothing()),
        overrides={},
        started_at_ns=started_at_ns,
    )


class Progress:
    """A one-line progress bar on stderr (``[#####     ] 12/40 runs``), redrawn in place on a
    terminal and written once per tenth otherwise, so logs stay short."""

    WIDTH = 30

    def __init__(self, total: int, unit: str, *, out: IO[str] | None = None) -> None:
        self.total, self.unit, self.done = total, unit, 0
        self._out = out if out is not None else sys.stderr
        self._tty = bool(getattr(self._out, "isatty", lambda: False)())
        self._last_tenth = -1
        self._started = time.monotonic()

    def step(self, label: str = "") -> None:
        self.done += 1
        tenth = self.done * 10 // max(1, self.total)
        if not self._tty and tenth == self._last_tenth and self.done != self.total:
            return
        self._last_tenth = tenth
        filled = self.done * self.WIDTH // max(1, self.total)
        bar = "#" * filled + " " * (self.WIDTH - filled)
        line = f"[{bar}] {self.done}/{self.total} {self.unit} {label}"[:120]
        end = "" if self._tty and self.done != self.total else "\n"
        self._out.write(("\r" if self._tty else "") + line + end)
        self._out.flush()

    @property
    def seconds(self) -> float:
        return time.monotonic() - self._started


@dataclass
class ImportSummary:
    """What an import did (or, with ``--dry-run``, would do)."""

    source: str
    dry_run: bool = False
    imported: int = 0
    skipped: int = 0
    points: int = 0
    params: int = 0
    artifacts: int = 0
    model_versions: int = 0
    aliases: int = 0
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        verb = "would import" if self.dry_run else "imported"
        text = (
            f"{self.source}: {verb} {self.imported} runs ({self.points} points, {self.params} "
            f"params, {self.artifacts} artifacts), {self.model_versions} model versions, "
            f"{self.aliases} aliases; {self.skipped} runs already imported"
        )
        return [text, *(f"  note: {note}" for note in self.notes)]
