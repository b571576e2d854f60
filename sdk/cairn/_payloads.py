"""The event payloads a run's calls record, built from user input that is checked on the way.

Each function either returns a complete, valid payload message or raises the call-site error
(``cairn._checks``); ``Run`` only decides *when* to record them. Metric points never come here:
they travel as plain tuples and are packed in the background (``cairn._packing``). Histograms do
(they are few, and binning must happen while the values still exist).
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable, Mapping
from typing import Any

from google.protobuf import struct_pb2

from cairn import _checks as checks
from cairn._buffer import Series
from cairn._datasets import Dataset
from cairn._ids import uuid7
from cairn.artifacts import StoredArtifact
from cairn_contract.v1 import (
    collaboration_pb2,
    common_pb2,
    lineage_pb2,
    metrics_pb2,
    provenance_pb2,
    runs_pb2,
)

STATUSES = {
    "finished": runs_pb2.RUN_STATUS_FINISHED,
    "failed": runs_pb2.RUN_STATUS_FAILED,
    "killed": runs_pb2.RUN_STATUS_KILLED,
}
ARTIFACT_KINDS = {
    "model": provenance_pb2.ARTIFACT_KIND_MODEL,
    "checkpoint": provenance_pb2.ARTIFACT_KIND_CHECKPOINT,
    "plot": provenance_pb2.ARTIFACT_KIND_PLOT,
    "data": provenance_pb2.ARTIFACT_KIND_DATA,
    "table": provenance_pb2.ARTIFACT_KIND_TABLE,
    "code": provenance_pb2.ARTIFACT_KIND_CODE,
    "other": provenance_pb2.ARTIFACT_KIND_OTHER,
}
TRACEBACK_LINES = 60
MIN_TIMESTAMP_NS = 946_684_800 * 1_000_000_000  # 2000-01-01: anything earlier is not ns
OPEN_END = 2**63 - 1  # an anchor without steps covers the whole metric


def _as_list(values: object, field: str) -> list[Any]:
    to_list = getattr(values, "tolist", None)  # numpy arrays and torch tensors, converted in C
    if callable(to_list):
        result = to_list()
        if isinstance(result, list):
            return result
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        checks.fail(field, "type", f"must be a sequence or array, got {type(values).__name__}")
    return list(values)


def metric_series(
    key: object, steps: object, values: object, timestamps_ns: object, now_ns: int
) -> Series:
    """One ``log_series`` call: parallel arrays, every element checked."""
    name = checks.check_key(key, "key")
    step_list = _as_list(steps, "steps")
    value_list = _as_list(values, "values")
    if not step_list:
        checks.fail("steps", "required", "must not be empty")
    if len(value_list) != len(step_list):
        detail = f"has {len(value_list)} items but steps has {len(step_list)}"
        checks.fail("values", "equal_lengths", detail)
    for i, step in enumerate(step_list):
        if type(step) is not int or step < 0:
            step_list[i] = checks.check_step(step, f"steps[{i}]")
    for i, value in enumerate(value_list):
        if type(value) is not float:
            value_list[i] = checks.to_metric_value(value, f"values[{i}]")
    if timestamps_ns is None:
        return Series(name, step_list, value_list, [now_ns] * len(step_list))
    times = _as_list(timestamps_ns, "timestamps_ns")
    if len(times) != len(step_list):
        detail = f"has {len(times)} items but steps has {len(step_list)}"
        checks.fail("timestamps_ns", "equal_lengths", detail)
    for i, stamp in enumerate(times):
        if type(stamp) is not int or stamp < MIN_TIMESTAMP_NS:
            field = f"timestamps_ns[{i}]"
            checks.fail(field, "timestamp_range", "must be int nanoseconds since the epoch")
    return Series(name, step_list, value_list, times)


def _floats(values: object, field: str) -> list[float]:
    return [
        item if type(item) is float else checks.to_metric_value(item, f"{field}[{i}]")
        for i, item in enumerate(_as_list(values, field))
    ]


def _check_edges(edges: list[float]) -> None:
    """Edges given to bin values into: the bin rules, stated for the edges alone."""
    if len(edges) < 2:
        detail = f"has {len(edges)} items: a histogram needs at least two edges"
        checks.fail("edges", "bin_edges", detail)
    if len(edges) - 1 > checks.MAX_BINS_PER_HISTOGRAM:
        detail = f"{len(edges) - 1} bins, at most {checks.MAX_BINS_PER_HISTOGRAM} allowed"
        checks.fail("edges", "max_bins_per_histogram", detail)
    checks.check_bins(edges, [0.0] * (len(edges) - 1))


def _binned(values: object, bins: object, edges: list[float] | None) -> tuple[Any, Any, int]:
    """``values`` counted with ``numpy.histogram`` into ``bins`` equal bins over their range (or
    into ``edges``); NaN and ±inf are left out and their number returned."""
    import numpy as np  # only here: ``import cairn`` stays free of numpy

    cuts: int | list[float]
    if edges is None:
        if isinstance(bins, bool) or not isinstance(bins, int):
            checks.fail("bins", "type", f"must be an integer, got {type(bins).__name__}")
        if not 1 <= bins <= checks.MAX_BINS_PER_HISTOGRAM:
            limit = checks.MAX_BINS_PER_HISTOGRAM
            detail = f"must be between 1 and {limit}, got {bins}"
            checks.fail("bins", "max_bins_per_histogram", detail)
        cuts = bins
    else:
        cuts = edges
    if isinstance(values, str | bytes):
        checks.fail("values", "numeric_value", f"must be numbers, got {type(values).__name__}")
    try:
        array = np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError, OverflowError, RuntimeError) as exc:
        detail = f"must be an array of numbers, got {type(values).__name__} ({exc})"
        if type(values).__module__.startswith("torch"):
            detail += "; pass tensor.detach().cpu().numpy()"
        checks.fail("values", "numeric_value", detail)
    if array.size == 0:
        checks.fail("values", "required", "must not be empty")
    finite = array[np.isfinite(array)]
    try:
        with np.errstate(over="raise", invalid="raise"):
            counts, found_edges = np.histogram(finite, bins=cuts)
    except (ValueError, FloatingPointError) as exc:  # a range too wide or too narrow for bins
        checks.fail("values", "histogram_range", f"cannot be binned: {exc}")
    return found_edges, counts, int(array.size - finite.size)


def histogram_batch(
    key: object,
    values: object,
    *,
    bins: object,
    edges: object,
    counts: object,
    step: int,
    now_ns: int,
) -> tuple[metrics_pb2.HistogramBatch, int]:
    """One ``log_histogram`` call: ``values`` binned here, or bins the caller computed
    (``edges`` and ``counts``); returns the payload and how many NaN/±inf values were left out."""
    name = checks.check_key(key, "key")
    edge_list = None if edges is None else _floats(edges, "edges")
    dropped = 0
    if values is not None:
        if counts is not None:
            checks.fail(
                "counts", "one_source", "give values (and edges, optionally) or counts, not both"
            )
        if edge_list is not None:
            _check_edges(edge_list)
        found_edges, found_counts, dropped = _binned(values, bins, edge_list)
        edge_list = found_edges.tolist()
        count_list = found_counts.astype(float).tolist()
    elif edge_list is None or counts is None:
        checks.fail("values", "required", "give values, or edges and counts")
    else:
        count_list = _floats(counts, "counts")
    checks.check_bins(edge_list, count_list)
    histogram = metrics_pb2.Histogram(
        key=name, step=step, timestamp_ns=now_ns, edges=edge_list, counts=count_list
    )
    return metrics_pb2.HistogramBatch(histograms=[histogram]), dropped


def params_set(flat: Mapping[str, Any]) -> runs_pb2.ParamsSet:
    """Flattened parameters (``cairn._flatten``) as typed values, keys sorted."""
    message = runs_pb2.ParamsSet()
    for key in sorted(flat):
        value = flat[key]
        param = message.params.add(key=key)
        if value is None:
            param.value.null_value = struct_pb2.NULL_VALUE
        elif isinstance(value, bool):
            param.value.bool_value = value
        elif isinstance(value, int):
            param.value.int_value = value
        elif isinstance(value, float):
            param.value.double_value = value
        else:
            param.value.string_value = value
    return message


def tags_set(tags: object) -> runs_pb2.TagsSet:
    """Tags are text; numbers and booleans are written as text (``true``/``false``)."""
    if not isinstance(tags, Mapping):
        checks.fail(
            "tags", "type", f"must be a mapping of names to values, got {type(tags).__name__}"
        )
    if len(tags) > checks.MAX_ITEMS_PER_LIST:
        checks.fail("tags", "max_items", f"{len(tags)} tags, at most {checks.MAX_ITEMS_PER_LIST}")
    message = runs_pb2.TagsSet()
    for key, value in tags.items():
        field = f"tags[{key!r}]"
        checks.check_key(key, field)
        if value is not None and not isinstance(value, str | bool | int | float):
            kind = type(value).__name__
            checks.fail(field, "type", f"tag values are text, numbers or booleans, got {kind}")
        text = (
            "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        )
        message.tags.add(key=key, value=checks.check_text(text, field, checks.MAX_TAG_VALUE_CHARS))
    return message


def comment_added(
    body: object, metric: object, steps: tuple[int, int] | None, reply_to: object
) -> collaboration_pb2.CommentAdded:
    text = checks.check_text(body, "body", checks.MAX_MARKDOWN_CHARS)
    if not text.strip():
        checks.fail("body", "required", "must not be empty")
    comment = collaboration_pb2.CommentAdded(comment_id=uuid7(), body_markdown=text)
    if reply_to is not None:
        comment.reply_to = checks.check_id(reply_to, "reply_to")
    if metric is None and steps is not None:
        checks.fail("metric", "required", "is required when steps are given")
    if metric is not None:
        low, high = (0, OPEN_END) if steps is None else steps
        low, high = checks.check_step(low, "steps[0]"), checks.check_step(high, "steps[1]")
        if high < low:
            checks.fail("steps", "step_range", f"needs steps[0] <= steps[1], got ({low}, {high})")
        key = checks.check_key(metric, "metric")
        comment.anchor.CopyFrom(
            collaboration_pb2.MetricAnchor(metric_key=key, step_min=low, step_max=high)
        )
    return comment


def dataset_recorded(
    dataset: Dataset, role: common_pb2.DataRole.ValueType
) -> provenance_pb2.DatasetRecorded:
    return provenance_pb2.DatasetRecorded(
        name=dataset.name,
        uri=dataset.uri,
        digest=dataset.digest,
        size_bytes=dataset.size_bytes,
        manifest_digest=dataset.manifest_digest,
        file_count=dataset.file_count,
        role=role,
        version=dataset.version,
    )


def artifact_kind(kind: object) -> provenance_pb2.ArtifactKind.ValueType:
    if kind not in ARTIFACT_KINDS:
        checks.fail("kind", "artifact_kind", f"{kind!r} is not one of {', '.join(ARTIFACT_KINDS)}")
    return ARTIFACT_KINDS[str(kind)]


def artifact_metadata(metadata: Mapping[str, object] | None) -> list[common_pb2.KeyValue]:
    pairs = []
    for key, value in (metadata or {}).items():
        field = f"metadata[{key!r}]"
        pairs.append(
            common_pb2.KeyValue(
                key=checks.check_key(key, field),
                value=checks.check_text(str(value), field, checks.MAX_TEXT_CHARS),
            )
        )
    return pairs


def artifact_logged(
    name: str,
    kind: provenance_pb2.ArtifactKind.ValueType,
    stored: StoredArtifact,
    metadata: list[common_pb2.KeyValue],
) -> provenance_pb2.ArtifactLogged:
    return provenance_pb2.ArtifactLogged(
        name=name,
        kind=kind,
        uri=stored.uri,
        sha256=stored.sha256,
        size_bytes=stored.size_bytes,
        metadata=metadata,
        role=common_pb2.DATA_ROLE_OUTPUT,
    )


def lineage_edge(
    run_id: str,
    relation: lineage_pb2.LineageRelation.ValueType,
    kind: lineage_pb2.LineageNodeKind.ValueType,
    target_id: str,
    name: str,
) -> lineage_pb2.LineageEdgeRecorded:
    """An edge from this run (the aggregate the edge is recorded on) to a dataset or artifact."""
    return lineage_pb2.LineageEdgeRecorded(
        source=lineage_pb2.LineageNode(kind=lineage_pb2.LINEAGE_NODE_KIND_RUN, id=run_id),
        relation=relation,
        target=lineage_pb2.LineageNode(kind=kind, id=target_id, name=name),
    )


def status_changed(
    status: str, *, reason: str = "", exit_code: int = 0, error: BaseException | None = None
) -> runs_pb2.RunStatusChanged:
    """The final status; with ``error``, its reason and the last lines of its traceback."""
    if status not in STATUSES:
        checks.fail("status", "run_status", f"{status!r} is not one of {', '.join(STATUSES)}")
    text = ""
    if error is not None:
        lines = "".join(traceback.format_exception(error)).splitlines()
        text = checks.clean_text("\n".join(lines[-TRACEBACK_LINES:]), checks.MAX_MARKDOWN_CHARS)
        reason = reason or f"{type(error).__name__}: {error}".strip().rstrip(":")
    return runs_pb2.RunStatusChanged(
        status=STATUSES[status],
        reason=checks.clean_text(reason, checks.MAX_TEXT_CHARS),
        exit_code=exit_code,
        traceback=text,
    )
