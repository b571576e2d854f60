"""One run read through ``cairn.Api``: its recorded state, and edits to it.

Edits (:meth:`ApiRun.rename`, :meth:`~ApiRun.set_tags`, :meth:`~ApiRun.archive`, ...) are events
appended through Ingest with the API key of the ``Api``: ingest records the key's holder as the
actor, checks the key may write to the run's team, and the portal, SQL and this API show the
change once the processors have projected it (usually well under a second). Each edit carries
the envelope sequence one above the highest the run has, so it wins over everything the run
recorded before it (docs/schema.md, "Views that present the latest state"). An edit does not
change this object's attributes; :meth:`ApiRun.refresh` reads the run again.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cairn import _checks as checks
from cairn import _payloads
from cairn._frames import info_dict, params_dict, time_of
from cairn._ids import uuid7
from cairn.errors import ValidationError
from cairn_contract.envelopes import SCHEMA_VERSION
from cairn_contract.v1 import envelope_pb2, events_pb2, provenance_pb2, query_pb2

if TYPE_CHECKING:
    import pandas as pd

    from cairn._query_client import QueryClient


class ApiRun:
    """A run as the query service returned it (``message`` is the ``cairn.v1.Run``)."""

    def __init__(self, client: QueryClient, message: query_pb2.Run) -> None:
        self._client = client
        self.message = message
        self._next_sequence = message.info.last_sequence + 1

    def __repr__(self) -> str:
        info = self.message.info
        return f"<ApiRun {info.run_id} {info.team}/{info.project} {info.name!r} {info.status}>"

    # -- what it recorded ---------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self.message.info.run_id

    @property
    def info(self) -> dict[str, Any]:
        """``run_id, name, project, team, status, owner, created_at, finished_at`` and the rest
        of the run's own fields."""
        i = self.message.info
        return {
            **info_dict(i),
            "created_by": i.created_by,
            "description": i.description,
            "status_reason": i.status_reason,
            "started_at": time_of(i.started_at_ns),
            "exit_code": i.exit_code,
            "archived": i.archived,
            "parent_run_id": i.parent_run_id,
            "sweep_id": i.sweep_id,
            "host": i.host,
        }

    @property
    def name(self) -> str:
        return self.message.info.name

    @property
    def project(self) -> str:
        return self.message.info.project

    @property
    def team(self) -> str:
        return self.message.info.team

    @property
    def status(self) -> str:
        return self.message.info.status

    @property
    def description(self) -> str:
        return self.message.info.description

    @property
    def archived(self) -> bool:
        return self.message.info.archived

    @property
    def created_at(self) -> datetime | None:
        return time_of(self.message.info.created_at_ns)

    @property
    def params(self) -> dict[str, Any]:
        """Parameters by dotted key, with the type they were logged with."""
        return params_dict(self.message.params)

    @property
    def tags(self) -> dict[str, str]:
        return dict(sorted(self.message.tags.items()))

    @property
    def summary(self) -> dict[str, float]:
        """Each metric's last value (the value at its highest step)."""
        return {m.key: m.last for m in self.message.metrics}

    @property
    def metrics(self) -> dict[str, dict[str, float]]:
        """Each metric's ``last``, ``min``, ``max``, ``last_step`` and ``count``."""
        return {
            m.key: {
                "last": m.last,
                "min": m.min,
                "max": m.max,
                "last_step": m.last_step,
                "count": m.count,
            }
            for m in self.message.metrics
        }

    @property
    def code(self) -> provenance_pb2.CodeVersionRecorded | None:
        return self.message.code if self.message.HasField("code") else None

    @property
    def environment(self) -> provenance_pb2.EnvironmentRecorded | None:
        return self.message.environment if self.message.HasField("environment") else None

    @property
    def datasets(self) -> list[provenance_pb2.DatasetRecorded]:
        return list(self.message.datasets)

    @property
    def artifacts(self) -> list[provenance_pb2.ArtifactLogged]:
        return list(self.message.artifacts)

    @property
    def command_line(self) -> list[str]:
        return list(self.message.command_line)

    def history(
        self, keys: Sequence[str] | str | None = None, samples: int | None = None
    ) -> pd.DataFrame:
        """This run's metric points: ``run_id, key, step, timestamp, value``, every point
        unless ``samples`` (see :meth:`cairn.Api.histories`)."""
        from cairn._api_reads import histories

        return histories(self._client, [self.id], keys, samples)

    def scan_history(self, keys: Sequence[str] | str | None = None) -> Iterator[dict[str, Any]]:
        """Every point of this run at full resolution, streamed one dict at a time (``run_id,
        key, step, timestamp, value``, by key then step), like W&B's ``scan_history()``: for
        histories too long to hold in a DataFrame. ``history(samples=N)`` is the cheap overview.
        """
        from cairn._api_reads import scan_history

        return scan_history(self._client, [self.id], keys)

    def refresh(self) -> ApiRun:
        """Read the run again (after edits have been projected); returns self."""
        reply = self._client.call("GetRun", query_pb2.GetRunRequest(run_id=self.id))
        self.message = reply.run
        self._next_sequence = max(self._next_sequence, reply.run.info.last_sequence + 1)
        return self

    # -- edits --------------------------------------------------------------------------------

    def rename(self, name: str) -> None:
        text = checks.check_name(_text(name, "name"), "name")
        if not text.strip():
            raise ValidationError("name must not be empty", field="name", rule="required")
        event = self._event()
        event.run_renamed.name = text
        self._append(event)

    def set_description(self, text: str) -> None:
        event = self._event()
        event.run_description_set.description = checks.check_text(
            _text(text, "description"), "description", checks.MAX_MARKDOWN_CHARS
        )
        self._append(event)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set (or replace) tags; values are written as text."""
        event = self._event()
        event.tags_set.CopyFrom(_payloads.tags_set(tags))
        if not event.tags_set.tags:
            raise ValidationError("set_tags needs at least one tag", field="tags", rule="empty")
        self._append(event)

    def remove_tags(self, keys: Iterable[str]) -> None:
        if isinstance(keys, str):
            keys = [keys]
        names = list(keys)
        if not names:
            raise ValidationError("remove_tags needs at least one key", field="keys", rule="empty")
        for i, key in enumerate(names):
            checks.check_key(key, f"keys[{i}]")
        event = self._event()
        event.tags_removed.keys.extend(names)
        self._append(event)

    def archive(self, reason: str = "") -> None:
        event = self._event()
        event.run_archived.reason = _text(reason, "reason")
        self._append(event)

    def restore(self, reason: str = "") -> None:
        """Undo :meth:`archive`."""
        event = self._event()
        event.run_unarchived.reason = _text(reason, "reason")
        self._append(event)

    def _event(self) -> events_pb2.Event:
        now = time.time_ns()
        info = self.message.info
        sequence = self._next_sequence
        self._next_sequence += 1
        return events_pb2.Event(
            envelope=envelope_pb2.Envelope(
                event_id=uuid7(now),
                schema_version=SCHEMA_VERSION,
                aggregate_kind=envelope_pb2.AGGREGATE_KIND_RUN,
                aggregate_id=info.run_id,
                sequence=sequence,
                occurred_at_ns=now,
                team=info.team,
                project=info.project,
            )
        )

    def _append(self, event: events_pb2.Event) -> None:
        self._client.append([event])


def _text(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise ValidationError(
            f"{field} must be a string, got {type(value).__name__}", field=field, rule="type"
        )
    return value
