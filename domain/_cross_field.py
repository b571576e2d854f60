"""Validation rules that relate several fields of one message (or a payload to its envelope).

The generic walk in ``domain/validation.py`` calls :func:`checks_for`'s functions by message type
after it has checked each field on its own, so these may assume required fields are present and
enums are known.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import cast

import numpy as np
from google.protobuf.message import Message

from cairn_contract.field_rules import aggregate_kind_name, fail
from cairn_contract.limits import Limits
from cairn_contract.v1 import (
    collaboration_pb2,
    envelope_pb2,
    events_pb2,
    identity_pb2,
    lineage_pb2,
    runs_pb2,
    views_pb2,
)
from domain._media_checks import media_checks
from domain.automations import check_definition

Check = Callable[[Message, str], None]

_MODEL_VERSION = lineage_pb2.LINEAGE_NODE_KIND_MODEL_VERSION
_RELATION_SOURCES = {
    lineage_pb2.LINEAGE_RELATION_USED: lineage_pb2.LINEAGE_NODE_KIND_RUN,
    lineage_pb2.LINEAGE_RELATION_PRODUCED: lineage_pb2.LINEAGE_NODE_KIND_RUN,
    lineage_pb2.LINEAGE_RELATION_BUILT_BY: lineage_pb2.LINEAGE_NODE_KIND_MODEL_VERSION,
    lineage_pb2.LINEAGE_RELATION_REPRODUCES: lineage_pb2.LINEAGE_NODE_KIND_RUN,
}
_SOURCE_AGGREGATES = {
    lineage_pb2.LINEAGE_NODE_KIND_RUN: envelope_pb2.AGGREGATE_KIND_RUN,
    lineage_pb2.LINEAGE_NODE_KIND_MODEL_VERSION: envelope_pb2.AGGREGATE_KIND_MODEL,
}


def checks_for(limits: Limits) -> Mapping[str, Check]:
    """Message full name -> its cross-field check."""

    def param(message: Message, path: str) -> None:
        key = cast(runs_pb2.Param, message).key
        depth = key.count(".") + 1
        if depth > limits.max_config_depth:
            fail(
                f"{path}.key",
                "max_config_depth",
                f"{key[:80]!r} is {depth} levels deep, at most {limits.max_config_depth}",
            )

    return {
        "cairn.v1.Param": param,
        "cairn.v1.MetricAnchor": _anchor,
        "cairn.v1.LineageNode": _lineage_node,
        "cairn.v1.LineageEdgeRecorded": _lineage_edge,
        "cairn.v1.ApiKeyIssued": _api_key_issued,
        "cairn.v1.RunForked": _run_forked,
        "cairn.v1.RunRewound": _run_rewound,
        "cairn.v1.RuleDefinition": check_definition,
        "cairn.v1.ViewSaved": _view_saved,
        **media_checks(limits),
    }


def _anchor(message: Message, path: str) -> None:
    anchor = cast(collaboration_pb2.MetricAnchor, message)
    low, high = anchor.step_min, anchor.step_max
    if low < 0 or high < low:
        fail(path, "step_range", f"needs 0 <= step_min <= step_max, got [{low}, {high}]")


def _lineage_node(message: Message, path: str) -> None:
    node = cast(lineage_pb2.LineageNode, message)
    if node.kind == _MODEL_VERSION and not node.version:
        fail(f"{path}.version", "required", "is required for model version nodes")
    if node.kind != _MODEL_VERSION and node.version:
        fail(f"{path}.version", "lineage_node_version", "is only allowed on model versions")


def _run_forked(message: Message, path: str) -> None:
    forked = cast(runs_pb2.RunForked, message)
    if forked.fork_step < 0:
        fail(f"{path}.fork_step", "min", f"must be >= 0, got {forked.fork_step}")


def _run_rewound(message: Message, path: str) -> None:
    rewound = cast(runs_pb2.RunRewound, message)
    if rewound.to_step < 0:
        fail(f"{path}.to_step", "min", f"must be >= 0, got {rewound.to_step}")


def _view_saved(message: Message, path: str) -> None:
    """Param names are unique (a URL holds each once); only a personal view is a default."""
    view = cast(views_pb2.ViewSaved, message)
    seen: set[str] = set()
    for i, param in enumerate(view.params):
        if param.name in seen:
            fail(f"{path}.params[{i}].name", "unique_name", f"{param.name!r} appears twice")
        seen.add(param.name)
    if view.user_default and view.visibility != views_pb2.VIEW_VISIBILITY_PERSONAL:
        fail(f"{path}.user_default", "default_is_personal", "only a personal view is a default")


def _lineage_edge(message: Message, path: str) -> None:
    edge = cast(lineage_pb2.LineageEdgeRecorded, message)
    if edge.relation == lineage_pb2.LINEAGE_RELATION_FORKED_FROM:
        fail(
            f"{path}.relation",
            "lineage_relation",
            "FORKED_FROM edges are recorded by run_forked (cairn.init(fork_from=...)), not sent",
        )
    expected = _RELATION_SOURCES[edge.relation]
    if edge.source.kind != expected:
        relation = lineage_pb2.LineageRelation.Name(edge.relation)
        fail(
            f"{path}.source.kind",
            "lineage_relation",
            f"{relation} edges start at a {lineage_pb2.LineageNodeKind.Name(expected)}",
        )
    if edge.relation == lineage_pb2.LINEAGE_RELATION_BUILT_BY and (
        edge.target.kind != lineage_pb2.LINEAGE_NODE_KIND_RUN
    ):
        fail(f"{path}.target.kind", "lineage_relation", "BUILT_BY edges end at a run")
    if edge.relation == lineage_pb2.LINEAGE_RELATION_REPRODUCES and (
        edge.target.kind != lineage_pb2.LINEAGE_NODE_KIND_RUN
    ):
        fail(f"{path}.target.kind", "lineage_relation", "REPRODUCES edges end at a run")


def check_lineage_source(event: events_pb2.Event, path: str) -> None:
    """An edge is recorded on its source's aggregate (run edges on the run, model-version edges
    on the model), so each aggregate's log holds its own edges, in order."""
    source = event.lineage_edge_recorded.source
    env = event.envelope
    if env.aggregate_kind != _SOURCE_AGGREGATES[source.kind] or env.aggregate_id != source.id:
        fail(
            f"{path}.source",
            "lineage_source_is_aggregate",
            "an edge is recorded on its source's aggregate: source must be "
            f"{aggregate_kind_name(env.aggregate_kind)} {env.aggregate_id!r}",
        )


def check_fork_parent(event: events_pb2.Event, path: str) -> None:
    """A run cannot be forked from itself."""
    if event.run_forked.parent_run_id == event.envelope.aggregate_id:
        fail(f"{path}.parent_run_id", "fork_self", "a run cannot be forked from itself")


def _api_key_issued(message: Message, path: str) -> None:
    issued = cast(identity_pb2.ApiKeyIssued, message)
    if issued.principal_kind == envelope_pb2.ACTOR_KIND_USER and not issued.user_id:
        fail(f"{path}.user_id", "required", "is required for keys issued to a user")
    if issued.principal_kind == envelope_pb2.ACTOR_KIND_SERVICE and issued.user_id:
        fail(f"{path}.user_id", "service_key_user", "must be empty for service keys")


def check_bins(edges: Sequence[float], counts: Sequence[float], path: str, max_bins: int) -> None:
    """A histogram's bins: ``1..max_bins`` counts, each finite and >= 0, and one more edge than
    counts, finite and strictly increasing. Checked over numpy arrays; the first offending item
    is reported. The SDK states the same rules (``cairn._checks.check_bins``)."""
    if not counts:
        fail(f"{path}.counts", "required", "is required (no bins)")
    if len(counts) > max_bins:
        fail(
            f"{path}.counts",
            "max_bins_per_histogram",
            f"{len(counts)} bins, at most {max_bins} allowed",
        )
    if len(edges) != len(counts) + 1:
        fail(
            f"{path}.edges",
            "bin_edges",
            f"has {len(edges)} items but counts has {len(counts)}: "
            "a histogram has one more edge than counts",
        )
    edge_values = np.asarray(edges, dtype=np.float64)
    infinite = np.flatnonzero(~np.isfinite(edge_values))
    if infinite.size:
        k = int(infinite[0])
        detail = f"edges must be finite, got {float(edge_values[k])!r}"
        fail(f"{path}.edges[{k}]", "finite_edges", detail)
    backwards = np.flatnonzero(edge_values[1:] <= edge_values[:-1])  # no overflow, unlike diff
    if backwards.size:
        k = int(backwards[0]) + 1
        detail = (
            f"{float(edge_values[k])!r} does not follow {float(edge_values[k - 1])!r}: "
            "edges must increase strictly"
        )
        fail(f"{path}.edges[{k}]", "increasing_edges", detail)
    count_values = np.asarray(counts, dtype=np.float64)
    bad = np.flatnonzero(~(np.isfinite(count_values) & (count_values >= 0)))
    if bad.size:
        k = int(bad[0])
        detail = f"counts must be finite and >= 0, got {float(count_values[k])!r}"
        fail(f"{path}.counts[{k}]", "non_negative_count", detail)
