"""Rows that run events project into: run fields, params, tags, metrics, system metrics and
histograms.

Each public function is named after the event type it projects (``domain.projections`` finds it
by that name for every type in ``cairn_contract.event_types.EVENT_TYPES``) and appends the event's
rows to a :class:`~domain.projections.Projection`. Pure: no I/O.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from cairn_contract.v1 import events_pb2, lineage_pb2, metrics_pb2, runs_pb2
from domain import metric_rollups
from domain import row_fields as rows

if TYPE_CHECKING:
    from domain.projections import Projection

Event = events_pb2.Event
_TERMINAL = {runs_pb2.RUN_STATUS_FINISHED, runs_pb2.RUN_STATUS_FAILED, runs_pb2.RUN_STATUS_KILLED}


def run_created(p: Projection, e: Event) -> None:
    r = e.run_created
    env = e.envelope
    fields = {
        "team": env.team,
        "project": env.project,
        "name": r.name,
        "owner": r.owner or rows.actor(e),
        "parent_run_id": r.parent_run_id,
        "sweep_id": r.sweep_id,
        "host": r.host,
        "command_line": json.dumps(list(r.command_line)),
        "created_at": str(env.occurred_at_ns),
        "started_at": str(r.started_at_ns or env.occurred_at_ns),
        "description": r.description,
        "status": "running",
    }
    for field, value in fields.items():
        rows.run_field(p, e, field, value)


def run_status_changed(p: Projection, e: Event) -> None:
    s = e.run_status_changed
    rows.run_field(p, e, "status", rows.enum_label(runs_pb2.RunStatus, s.status))
    rows.run_field(p, e, "status_reason", s.reason)
    rows.run_field(p, e, "exit_code", str(s.exit_code))
    rows.run_field(p, e, "traceback", s.traceback)
    rows.run_field(
        p, e, "finished_at", str(e.envelope.occurred_at_ns) if s.status in _TERMINAL else ""
    )


def run_resumed(p: Projection, e: Event) -> None:
    r = e.run_resumed
    rows.run_field(p, e, "status", "running")
    rows.run_field(p, e, "finished_at", "")
    rows.run_field(p, e, "resumed_at", str(r.resumed_at_ns or e.envelope.occurred_at_ns))
    if r.host:
        rows.run_field(p, e, "host", r.host)


def _branch(p: Projection, e: Event, kind: str, parent: str, step: int, inherited: int) -> None:
    p.buffers["run_branches"].append(
        run_id=e.envelope.aggregate_id,
        kind=kind,
        parent_run_id=parent,
        step=step,
        inherited_points=inherited,
        actor=rows.actor(e),
        **rows.scope(e),
        **rows.order(e),
    )


def run_forked(p: Projection, e: Event) -> None:
    """A fork: its branch row and the lineage edge ``forked_from`` to the parent run, the step
    as the target's name (``step N``; a run node's version stays 0, so lineage walks on through
    the parent: the provenance report's ancestor runs show the whole fork chain). Its inherited
    points arrive as its own metric events."""
    f = e.run_forked
    _branch(p, e, "fork", f.parent_run_id, f.fork_step, f.inherited_points)
    relation = rows.enum_label(
        lineage_pb2.LineageRelation, lineage_pb2.LINEAGE_RELATION_FORKED_FROM
    )
    source = ("run", e.envelope.aggregate_id, 0, "")
    rows.edge(p, e, source, relation, ("run", f.parent_run_id, 0, f"step {f.fork_step}"))


def run_rewound(p: Projection, e: Event) -> None:
    """A rewind's branch row; :meth:`Projection.add` keeps the points it abandons."""
    _branch(p, e, "rewind", "", e.run_rewound.to_step, 0)


def run_renamed(p: Projection, e: Event) -> None:
    rows.run_field(p, e, "name", e.run_renamed.name)


def run_description_set(p: Projection, e: Event) -> None:
    rows.run_field(p, e, "description", e.run_description_set.description)


def run_archived(p: Projection, e: Event) -> None:
    rows.run_field(p, e, "archived", "1")
    rows.run_field(p, e, "archive_reason", e.run_archived.reason)


def run_unarchived(p: Projection, e: Event) -> None:
    rows.run_field(p, e, "archived", "0")
    rows.run_field(p, e, "archive_reason", e.run_unarchived.reason)


def _param_value(value: runs_pb2.ParamValue) -> tuple[str, str, float]:
    """(type, text, number): number is NaN where the value is not numeric."""
    kind = value.WhichOneof("kind")
    if kind == "double_value":
        return "float", repr(value.double_value), value.double_value
    if kind == "int_value":
        return "int", str(value.int_value), float(value.int_value)
    if kind == "bool_value":
        return "bool", "true" if value.bool_value else "false", float(value.bool_value)
    if kind == "string_value":
        return "string", value.string_value, math.nan
    return "null", "", math.nan


def params_set(p: Projection, e: Event) -> None:
    for param in e.params_set.params:
        value_type, text, number = _param_value(param.value)
        p.buffers["params"].append(
            run_id=e.envelope.aggregate_id,
            key=param.key,
            value_type=value_type,
            value=text,
            value_number=number,
            **rows.order(e),
        )


def tags_set(p: Projection, e: Event) -> None:
    for tag in e.tags_set.tags:
        p.buffers["tags"].append(
            run_id=e.envelope.aggregate_id,
            key=tag.key,
            value=tag.value,
            removed=False,
            **rows.order(e),
        )


def tags_removed(p: Projection, e: Event) -> None:
    for key in e.tags_removed.keys:
        p.buffers["tags"].append(
            run_id=e.envelope.aggregate_id, key=key, value="", removed=True, **rows.order(e)
        )


# --- metrics ------------------------------------------------------------------------------------


def _times(timestamps: Any, count: int, default_ns: int) -> np.ndarray[Any, Any]:
    if len(timestamps) == 0:
        return np.full(count, default_ns, dtype=np.int64)
    return np.asarray(timestamps, dtype=np.int64)


def metrics(p: Projection, e: Event) -> None:
    env = e.envelope
    buffer = p.buffers["metrics"]
    keys: list[str] = []
    arrays: tuple[list[Any], list[Any], list[Any]] = ([], [], [])
    for series in e.metrics.series:
        steps = np.asarray(series.steps, dtype=np.int64)
        values = np.asarray(series.values, dtype=np.float64)
        if len(steps) != len(values):
            raise ValueError(f"series {series.key!r}: {len(steps)} steps for {len(values)} values")
        times = _times(series.timestamps_ns, len(steps), env.occurred_at_ns)
        buffer.extend(
            len(steps),
            run_id=env.aggregate_id,
            key=series.key,
            step=steps,
            timestamp=times,
            value=values,
            sequence=env.sequence,
        )
        keys.append(series.key)
        for out, array in zip(arrays, (steps, times, values), strict=True):
            out.append(array)
        p.points += len(steps)
    metric_rollups.add_event(
        p.buffers["metric_rollup"], p.buffers["metric_rollup_ends"], env.aggregate_id, keys, *arrays
    )


def system_metrics(p: Projection, e: Event) -> None:
    env = e.envelope
    buffer = p.buffers["system_metrics"]
    for series in e.system_metrics.series:
        values = np.asarray(series.values, dtype=np.float64)
        times = _times(series.timestamps_ns, len(values), env.occurred_at_ns)
        if len(times) != len(values):
            raise ValueError(f"system series: {len(times)} timestamps for {len(values)} values")
        buffer.extend(
            len(values),
            run_id=env.aggregate_id,
            metric=rows.enum_label(metrics_pb2.SystemMetric, series.metric),
            device=series.device,
            timestamp=times,
            value=values,
            sequence=env.sequence,
        )
        p.points += len(values)


def histograms(p: Projection, e: Event) -> None:
    env = e.envelope
    buffer = p.buffers["histograms"]
    for histogram in e.histograms.histograms:
        if len(histogram.edges) != len(histogram.counts) + 1:
            raise ValueError(
                f"histogram {histogram.key!r}: {len(histogram.edges)} edges for "
                f"{len(histogram.counts)} counts"
            )
        buffer.append(
            run_id=env.aggregate_id,
            key=histogram.key,
            step=histogram.step,
            timestamp=histogram.timestamp_ns or env.occurred_at_ns,
            edges=list(histogram.edges),
            counts=list(histogram.counts),
            sequence=env.sequence,
        )
