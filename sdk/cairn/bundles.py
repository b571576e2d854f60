"""Moving a project between Cairn installations: ``cairn export-bundle`` / ``cairn import-bundle``.

A bundle is a directory::

    bundle.json      {"format": 1, "team": ..., "project": ..., "events": N, "artifacts": M}
    events.bin       every event of the project as the log stores it (serialized ``Event``
                     messages, each prefixed by its length as a 4-byte big-endian integer), in
                     the order ingest received them
    artifacts/       the content-addressed blobs and directory manifests the events name
                     (``blobs/sha256/..``, ``trees/sha256/..``: the artifact store's layout)

Export reads through the query service (``ExportEvents``: only a member of the project's team
exports it). Import replays the events through ingest with the caller's key, unchanged: event
ids, aggregate ids, sequences, timestamps and payloads are kept; teams are mapped by name (the
key must be of the bundle's team: ingest refuses any other, ``team_scope``); ingest records the
importing key as the channel, and an admin service key records each event as acting on behalf
of its original person (``actor.on_behalf_of``) so the views show the same people. A run the
target already knows is skipped whole ("already imported"), so re-importing adds nothing.
Artifacts are copied into the target's artifact store under the same content address.
"""

from __future__ import annotations

import json
import shutil
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cairn._importing import Progress, run_exists
from cairn.config import Settings
from cairn.errors import ValidationError
from cairn.v1 import envelope_pb2, events_pb2, query_pb2
from cairn_contract import artifact_layout

FORMAT = 1
BATCH_EVENTS = 500


@dataclass
class BundleSummary:
    """What an export or import did (or, with ``dry_run``, would do)."""

    verb: str
    project: str
    dry_run: bool = False
    events: int = 0
    runs: int = 0
    skipped_runs: int = 0
    artifacts: int = 0
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        verb = f"would {self.verb}" if self.dry_run else f"{self.verb}ed"
        text = (
            f"bundle {self.project}: {verb} {self.events} events ({self.runs} runs, "
            f"{self.artifacts} artifact files); {self.skipped_runs} runs already imported"
        )
        return [text, *(f"  note: {n}" for n in self.notes)]


def _write_events(path: Path, events: Iterable[bytes]) -> int:
    n = 0
    with path.open("wb") as out:
        for payload in events:
            out.write(struct.pack(">I", len(payload)))
            out.write(payload)
            n += 1
    return n


def read_events(path: Path) -> Iterator[bytes]:
    data = path.read_bytes()
    at = 0
    while at < len(data):
        if at + 4 > len(data):
            raise ValidationError(f"{path}: truncated", field="events.bin", rule="format")
        (size,) = struct.unpack(">I", data[at : at + 4])
        if at + 4 + size > len(data):
            raise ValidationError(f"{path}: truncated", field="events.bin", rule="format")
        yield data[at + 4 : at + 4 + size]
        at += 4 + size


def _store_key(uri: str) -> tuple[Path, str] | None:
    """(store root, key) of a local artifact URI in the store's layout, else None."""
    if not artifact_layout.is_local(uri):
        return None
    path = artifact_layout.local_path(uri)
    parts = path.parts
    for marker in ("blobs", "trees"):
        if marker in parts:
            at = len(parts) - 1 - parts[::-1].index(marker)
            return Path(*parts[:at]), "/".join(parts[at:])
    return None


def _copy_artifacts(events: list[events_pb2.Event], out: Path) -> tuple[int, list[str]]:
    copied, missing = 0, []
    for event in events:
        if event.WhichOneof("payload") != "artifact_logged":
            continue
        found = _store_key(event.artifact_logged.uri)
        if found is None:
            missing.append(event.artifact_logged.uri)
            continue
        root, key = found
        keys = [key]
        if key.startswith("trees/") and (root / key).is_file():
            manifest = artifact_layout.parse_manifest((root / key).read_bytes())
            keys += [artifact_layout.blob_key(e.sha256) for e in manifest]
        for k in keys:
            source, target = root / k, out / k
            if not source.is_file():
                missing.append(str(source))
            elif not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
                copied += 1
    return copied, missing


def export_bundle(
    settings: Settings, *, project: str, out: Path, team: str = "", dry_run: bool = False
) -> BundleSummary:
    """Write ``project``'s events and artifacts to the bundle directory ``out``."""
    from cairn._query_client import QueryClient

    summary = BundleSummary("export", project, dry_run=dry_run)
    client = QueryClient(settings, timeout_s=60.0)
    payloads: list[bytes] = []
    try:
        request = query_pb2.ExportEventsRequest(project=project, team=team or settings.team)
        progress: Progress | None = None
        for chunk in client.stream("ExportEvents", request):
            if chunk.total:
                progress = Progress(int(chunk.total), "events")
            for payload in chunk.events:
                payloads.append(payload)
                if progress is not None:
                    progress.step()
    finally:
        client.close()
    if not payloads:
        raise ValidationError(
            f"project: no events of {project!r} in your team", field="project", rule="exists"
        )
    events = [events_pb2.Event.FromString(p) for p in payloads]
    summary.events = len(events)
    summary.runs = sum(1 for e in events if e.WhichOneof("payload") == "run_created")
    if dry_run:
        return summary
    out.mkdir(parents=True, exist_ok=True)
    _write_events(out / "events.bin", payloads)
    summary.artifacts, missing = _copy_artifacts(events, out / "artifacts")
    if missing:
        summary.notes.append(f"{len(missing)} artifact files not in a local store, not bundled")
    manifest = {
        "format": FORMAT,
        "team": events[0].envelope.team,
        "project": project,
        "events": summary.events,
        "artifacts": summary.artifacts,
    }
    (out / "bundle.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return summary


def _prepared(event: events_pb2.Event, keep_people: bool) -> events_pb2.Event:
    """The event to send: the stored one, minus what ingest stamps (actor, received time),
    with the original person as ``on_behalf_of`` when the key may say so."""
    copy = events_pb2.Event()
    copy.CopyFrom(event)
    original = event.envelope.actor
    copy.envelope.ClearField("actor")
    copy.envelope.received_at_ns = 0
    if keep_people:
        person = original.on_behalf_of or (
            original.id if original.kind == envelope_pb2.ACTOR_KIND_USER else ""
        )
        if person:
            copy.envelope.actor.on_behalf_of = person
    return copy


def import_bundle(
    settings: Settings, directory: Path, *, keep_people: bool = False, dry_run: bool = False
) -> BundleSummary:
    """Replay the bundle in ``directory`` through ingest; runs the target knows are skipped."""
    from cairn._query_client import QueryClient

    manifest_path = directory / "bundle.json"
    if not manifest_path.is_file():
        raise ValidationError(
            f"{directory}: not a bundle (no bundle.json)", field="DIR", rule="bundle"
        )
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("format") != FORMAT:
        raise ValidationError(
            f"bundle.json: format {manifest.get('format')!r}, this Cairn reads {FORMAT}",
            field="format",
            rule="supported",
        )
    events = [events_pb2.Event.FromString(p) for p in read_events(directory / "events.bin")]
    summary = BundleSummary("import", str(manifest["project"]), dry_run=dry_run)
    runs = {
        e.envelope.aggregate_id
        for e in events
        if e.envelope.aggregate_kind == envelope_pb2.AGGREGATE_KIND_RUN
    }
    known = {run_id for run_id in sorted(runs) if run_exists(settings, run_id)}
    summary.skipped_runs, summary.runs = len(known), len(runs) - len(known)
    to_send = [e for e in events if e.envelope.aggregate_id not in known]
    summary.events = len(to_send)
    if dry_run or not to_send:
        return summary
    client = QueryClient(settings, timeout_s=120.0)
    progress = Progress(len(to_send), "events")
    try:
        for start in range(0, len(to_send), BATCH_EVENTS):
            batch = [_prepared(e, keep_people) for e in to_send[start : start + BATCH_EVENTS]]
            client.append(batch)
            for _ in batch:
                progress.step()
    finally:
        client.close()
    summary.artifacts = _restore_artifacts(directory / "artifacts", settings)
    return summary


def _restore_artifacts(source: Path, settings: Settings) -> int:
    location = settings.artifact_location
    if not source.is_dir() or not artifact_layout.is_local(location):
        return 0
    root, copied = artifact_layout.local_path(location), 0
    for path in sorted(source.rglob("*")):
        if path.is_file():
            target = root / path.relative_to(source)
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
                copied += 1
    return copied
