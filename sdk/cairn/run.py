"""The :class:`Run` a training script holds: every call checks its input and returns at once.

Nothing here touches the network, and only ``log_artifact``/``use_dataset`` touch the disk (they
must hash and copy what they are given while it still exists). Calls put an entry in the buffer
(``cairn._buffer``) and return; the run's sender thread does the rest. Misuse raises
:class:`~cairn.errors.ValidationError` (bad keys or values), :class:`~cairn.errors.NotFoundError`
(a path that does not exist) or :class:`~cairn.errors.FailedPreconditionError` (a call after
``finish``), always before anything is spooled.

Why one module of ~470 lines: it is the one class users hold, whose methods are the public API of
a run; the buffering, packing and sending it delegates to live in their own modules.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, SupportsIndex

from cairn import _checks as checks
from cairn import _payloads as payloads
from cairn._buffer import Barrier, Payload
from cairn._datasets import Dataset, describe
from cairn._flatten import flatten
from cairn._media_run import MediaLogging
from cairn.artifacts import open_store, store_path
from cairn.config import Mode, Settings
from cairn.errors import FailedPreconditionError, NotFoundError
from cairn_contract.v1 import common_pb2, lineage_pb2, runs_pb2

if TYPE_CHECKING:
    from google.protobuf.message import Message

    from cairn._registry import ModelVersion
    from cairn._start import RunParts

log = logging.getLogger("cairn")

Status = Literal["finished", "failed", "killed"]
_MAX_KEYS = 100_000  # checked metric keys remembered; beyond this they are checked again


@dataclass(frozen=True, slots=True)
class Artifact:
    """An artifact as recorded on the run."""

    name: str
    kind: str
    sha256: str
    size_bytes: int
    uri: str
    file_count: int


class Run(MediaLogging):
    """A run being recorded; made by :func:`cairn.init`. Use it as a context manager, or call
    :meth:`finish` (an uncaught exception, SIGTERM or interpreter exit finish it too).

    Calls may come from any thread; ``log`` without an explicit ``step`` counts steps per run, so
    threads logging concurrently should pass ``step``.
    """

    def __init__(
        self,
        *,
        run_id: str,
        name: str,
        team: str,
        project: str,
        settings: Settings,
        parts: RunParts,
        parent_id: str = "",
        first_step: int = 0,
    ) -> None:
        self.id = run_id
        self.name = name
        self.team = team
        self.project = project
        self.parent_id = parent_id
        self.settings = settings
        self.status: Status | Literal["running"] = "running"
        self._parts = parts
        self._put = parts.buffer.put
        self._backlog = parts.buffer.entries  # bounded: see _buffer.py
        self._max_backlog_points = parts.buffer.max_points
        self._next_step = first_step
        self._keys: set[str] = set()  # metric keys already checked
        self._nonfinite_warned: set[str] = set()  # histogram keys warned about NaN/inf once
        self._finished = False
        self._finish_lock = threading.RLock()  # re-entered by a signal handler during finish
        # The config given to init as the run uses it: under ``cairn reproduce`` the recorded
        # params and the ``--set`` overrides replace the code's values, so read settings here.
        self.config: dict[str, Any] = {}
        self._init_media()

    def __repr__(self) -> str:
        return f"<cairn.Run {self.id} {self.project}/{self.name} {self.status}>"

    @property
    def url(self) -> str | None:
        """The run's page in the portal, if a portal address is configured."""
        base = self.settings.portal_url.rstrip("/")
        return f"{base}/run?id={self.id}" if base else None

    @property
    def mode(self) -> Mode:
        return self.settings.mode

    @property
    def spool_dir(self) -> Path | None:
        spool = self._parts.spool
        return spool.directory if spool is not None else None

    # -- metrics ---------------------------------------------------------------------------------

    def log(self, data: Mapping[str, Any], step: SupportsIndex | None = None) -> None:
        """Record scalar metrics at ``step`` (default: one more than the last step logged).

        Values are numbers (int, float, numpy scalars, one-element tensors); NaN and ±inf are
        kept as they are. Nested mappings become dotted keys. Costs a few microseconds and never
        waits for the network or the disk.
        """
        if self._finished:
            raise self._after_finish("log")
        if type(data) is not dict:
            data = _as_dict(data)
        if not data.keys() <= self._keys:
            self._admit(data)
        try:
            total = sum(data.values())  # one C loop over plain numbers; raises for text and None
            plain = type(total) is float or type(total) is int
        except Exception:
            plain = False
        data = data.copy() if plain else self._convert(data)
        if step is None:
            at = self._next_step
        elif type(step) is int and step >= 0:
            at = step
        else:
            at = checks.check_step(step)
        self._next_step = at + 1
        if data:
            self._put((at, time.time_ns(), data))
            if len(self._backlog) * len(data) > self._max_backlog_points:
                self._parts.buffer.relieve()  # the loop outpaces the sender: write it down here

    def log_series(
        self,
        key: str,
        steps: Sequence[int] | Any,
        values: Sequence[float] | Any,
        timestamps_ns: Sequence[int] | Any | None = None,
    ) -> None:
        """Record a whole array of points for one metric (lists, tuples or numpy arrays)."""
        if self._finished:
            raise self._after_finish("log_series")
        series = payloads.metric_series(key, steps, values, timestamps_ns, time.time_ns())
        self._next_step = max(self._next_step, max(series.steps) + 1)
        self._put(series)
        if (
            len(self._backlog) > 1
            and len(series.values) * len(self._backlog) > self._max_backlog_points
        ):
            self._parts.buffer.relieve()

    def log_histogram(
        self,
        key: str,
        values: Any = None,
        *,
        step: SupportsIndex | None = None,
        bins: int = 64,
        edges: Sequence[float] | Any | None = None,
        counts: Sequence[float] | Any | None = None,
    ) -> None:
        """Record the distribution of ``values`` (weights, gradients, activations) at ``step``.

        ``values`` is any array-like of numbers (list, numpy array of any shape; a torch tensor
        as ``t.detach().cpu().numpy()``), counted by ``numpy.histogram`` into ``bins`` equal
        bins over its range, or into ``edges`` when given (values outside them are not
        counted). NaN and ±inf values are left out (a warning says so, once per key).
        Alternatively pass bins computed elsewhere: ``edges`` (n + 1, increasing) and
        ``counts`` (n, >= 0; weights allowed). ``step`` defaults to the step of the latest
        :meth:`log` (0 before any) and does not advance it; a key logged again at a step
        replaces that step's histogram.
        """
        if self._finished:
            raise self._after_finish("log_histogram")
        at = max(self._next_step - 1, 0) if step is None else checks.check_step(step)
        batch, dropped = payloads.histogram_batch(
            key, values, bins=bins, edges=edges, counts=counts, step=at, now_ns=time.time_ns()
        )
        if dropped and key not in self._nonfinite_warned:
            self._nonfinite_warned.add(key)
            log.warning(
                "cairn: %d NaN or infinite values of histogram %r at step %d were left out "
                "(said once per key)",
                dropped,
                key,
                at,
            )
        self._emit("histograms", batch)

    # -- parameters, tags, descriptions, comments --------------------------------------------------

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record (hyper)parameters; nested mappings and lists become dotted keys. A later value
        for a key replaces the earlier one."""
        flat = flatten(params, "params")
        if flat:
            self._emit("params_set", payloads.params_set(flat))

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set tags; numbers and booleans are recorded as text."""
        message = payloads.tags_set(tags)
        if message.tags:
            self._emit("tags_set", message)

    def remove_tags(self, keys: Iterable[str]) -> None:
        names = [checks.check_key(key, f"keys[{i}]") for i, key in enumerate(keys)]
        if names:
            self._emit("tags_removed", runs_pb2.TagsRemoved(keys=names))

    def set_description(self, markdown: str) -> None:
        text = checks.check_text(markdown, "description", checks.MAX_MARKDOWN_CHARS)
        self._emit("run_description_set", runs_pb2.RunDescriptionSet(description=text))

    def rename(self, name: str) -> None:
        checked = checks.check_name(name, "name")
        self._emit("run_renamed", runs_pb2.RunRenamed(name=checked))
        self.name = checked

    def comment(
        self,
        body: str,
        *,
        metric: str | None = None,
        steps: tuple[int, int] | None = None,
        reply_to: str | None = None,
    ) -> str:
        """Add a Markdown comment, optionally anchored to a metric (and a step range of it);
        returns the comment's id (pass it as ``reply_to`` to answer it)."""
        comment = payloads.comment_added(body, metric, steps, reply_to)
        self._emit("comment_added", comment)
        return comment.comment_id

    # -- lineage ---------------------------------------------------------------------------------

    def use_dataset(
        self, source: Any, *, name: str | None = None, version: str | None = None
    ) -> Dataset:
        """Record a dataset the run reads: a file or directory (hashed), a pandas DataFrame
        (content hash) or a URI with a known version. Returns what was recorded."""
        return self._dataset(source, name, version, common_pb2.DATA_ROLE_INPUT)

    def log_dataset(
        self, source: Any, *, name: str | None = None, version: str | None = None
    ) -> Dataset:
        """Record a dataset the run wrote (the output counterpart of :meth:`use_dataset`)."""
        return self._dataset(source, name, version, common_pb2.DATA_ROLE_OUTPUT)

    def _dataset(
        self,
        source: Any,
        name: str | None,
        version: str | None,
        role: common_pb2.DataRole.ValueType,
    ) -> Dataset:
        if self._finished:
            raise self._after_finish("use_dataset")
        dataset = describe(source, name=name, version=version)
        relation = (
            lineage_pb2.LINEAGE_RELATION_USED
            if role == common_pb2.DATA_ROLE_INPUT
            else lineage_pb2.LINEAGE_RELATION_PRODUCED
        )
        self._emit("dataset_recorded", payloads.dataset_recorded(dataset, role))
        edge = payloads.lineage_edge(
            self.id, relation, lineage_pb2.LINEAGE_NODE_KIND_DATASET, dataset.digest, dataset.name
        )
        self._emit("lineage_edge_recorded", edge)
        return dataset

    def log_artifact(
        self,
        path: str | Path,
        *,
        name: str | None = None,
        kind: str = "other",
        metadata: Mapping[str, str] | None = None,
    ) -> Artifact:
        """Store a file or directory in the artifact store (content-addressed: identical files
        are stored once) and record it as an output of the run. Blocks while it hashes and
        copies, so a file overwritten right after the call is recorded as it was."""
        if self._finished:
            raise self._after_finish("log_artifact")
        kind_value = payloads.artifact_kind(kind)
        source = Path(path).expanduser()
        if not source.exists():
            detail = f"path: {str(source)!r} does not exist (rule exists)"
            raise NotFoundError(detail, field="path", rule="exists")
        label = checks.check_name(name if name is not None else source.name, "name")
        pairs = payloads.artifact_metadata(metadata)
        stored = store_path(open_store(self.settings.artifact_location), source)
        self._emit("artifact_logged", payloads.artifact_logged(label, kind_value, stored, pairs))
        edge = payloads.lineage_edge(
            self.id,
            lineage_pb2.LINEAGE_RELATION_PRODUCED,
            lineage_pb2.LINEAGE_NODE_KIND_ARTIFACT,
            stored.sha256,
            label,
        )
        self._emit("lineage_edge_recorded", edge)
        return Artifact(
            label, kind, stored.sha256, stored.size_bytes, stored.uri, stored.file_count
        )

    def log_model(
        self,
        path: str | Path,
        name: str,
        *,
        aliases: Iterable[str] = (),
        description: str = "",
        metadata: Mapping[str, Any] | None = None,
    ) -> ModelVersion:
        """Log ``path`` (file or directory) as a content-addressed model artifact of this run and
        register it as the next version of model ``name`` in the run's team and project (the
        model is created on first use). Waits until the registry numbered the version; see
        :mod:`cairn.models`."""
        from cairn.models import log_model

        return log_model(
            self, path, name, aliases=aliases, description=description, metadata=metadata
        )

    # -- delivery and the end --------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything logged so far is in the spool on disk (safe from a crash of
        this process, not necessarily delivered yet). True unless ``timeout`` ran out."""
        sender = self._parts.sender
        if sender is None or not sender.alive:
            return True
        barrier = Barrier()
        self._put(barrier)
        sender.wake()
        return barrier.done.wait(timeout)

    def finish(self, status: Status = "finished", *, reason: str = "", exit_code: int = 0) -> None:
        """End the run: record its status, deliver what is pending (waiting up to
        ``CAIRN_FINISH_TIMEOUT``) and stop the background threads. Later calls do nothing."""
        self._end(payloads.status_changed(status, reason=reason, exit_code=exit_code), status)

    def fail_with(self, error: BaseException, *, killed: bool = False, exit_code: int = 1) -> None:
        """End the run as failed (or killed) because of ``error``, keeping the traceback's end."""
        status: Status = "killed" if killed else "failed"
        change = payloads.status_changed(status, exit_code=exit_code, error=error)
        self._end(change, status)

    def detach(self) -> None:
        """Stop recording the run from this process *without* ending it: deliver what is pending
        (as ``finish`` does) and leave its status as it is, so another process, or a later
        ``cairn.init(resume=run.id)``, continues it. Later calls raise as after ``finish``."""
        self._end(None, None)

    def _end(
        self,
        change: runs_pb2.RunStatusChanged | None,
        status: Status | None,
        *,
        timeout_s: float | None = None,
    ) -> None:
        with self._finish_lock:
            if self._finished:
                return
            self._finished = True
        from cairn import _lifecycle

        since = time.monotonic()
        try:
            self._parts.stop_capture()
            if change is not None and status is not None:  # None: detach
                self._put(Payload("run_status_changed", change, time.time_ns()))
                self.status = status
            timeout = self.settings.finish_timeout_s if timeout_s is None else timeout_s
            self._parts.shut_down(self.id, self.settings, self._next_step, timeout, since=since)
        finally:
            _lifecycle.unregister(self)

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.finish()
        elif isinstance(exc, SystemExit):
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if code == 0:
                self.finish()
            else:
                self.finish("failed", reason=f"SystemExit({exc.code!r})", exit_code=code)
        elif isinstance(exc, KeyboardInterrupt):
            self.fail_with(exc, killed=True, exit_code=130)
        else:
            self.fail_with(exc)

    def _record_reproduces(self, original_run_id: str) -> None:
        """The lineage edge ``this run reproduces original`` (set by ``cairn reproduce``)."""
        edge = lineage_pb2.LineageEdgeRecorded(
            source=lineage_pb2.LineageNode(kind=lineage_pb2.LINEAGE_NODE_KIND_RUN, id=self.id),
            relation=lineage_pb2.LINEAGE_RELATION_REPRODUCES,
            target=lineage_pb2.LineageNode(
                kind=lineage_pb2.LINEAGE_NODE_KIND_RUN, id=original_run_id
            ),
        )
        self._emit("lineage_edge_recorded", edge)

    # -- helpers ---------------------------------------------------------------------------------

    def _emit(self, field: str, message: Message) -> None:
        if self._finished:
            raise self._after_finish(field)
        self._put(Payload(field, message, time.time_ns()))

    def _after_finish(self, call: str) -> FailedPreconditionError:
        return FailedPreconditionError(
            f"run {self.id} is {self.status}: {call} after finish() is not recorded "
            "(start a new run, or resume this one with cairn.init(resume=...))",
            field=call,
            rule="run_finished",
        )

    def _convert(self, data: Mapping[str, Any]) -> dict[str, float]:
        """The slow path: numpy and torch scalars to floats, nested mappings to dotted keys, and
        a clear error for anything that is not a number."""
        converted: dict[str, float] = {}

        def visit(mapping: Mapping[Any, Any], prefix: str) -> None:
            for key, value in mapping.items():
                name = f"{prefix}{key}"
                if isinstance(value, Mapping):
                    visit(value, f"{name}.")
                elif type(value) is float:
                    converted[name] = value
                else:
                    converted[name] = checks.to_metric_value(value, f"data[{name!r}]")

        visit(data, "")
        if not converted.keys() <= self._keys:
            self._admit(converted)
        return converted

    def _admit(self, data: Mapping[Any, Any]) -> None:
        """Check keys not seen before; nested mappings are checked once flattened."""
        for key, value in data.items():
            if not isinstance(key, str):
                kind = type(key).__name__
                checks.fail(f"data[{key!r}]", "type", f"metric names must be strings, got {kind}")
            if key not in self._keys and not isinstance(value, Mapping):
                checks.check_key(key, f"data[{key!r}]")
                if len(self._keys) >= _MAX_KEYS:
                    self._keys.clear()
                self._keys.add(key)


def _as_dict(data: object) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        kind = type(data).__name__
        checks.fail("data", "type", f"must be a mapping of metric names to numbers, got {kind}")
    return dict(data)
