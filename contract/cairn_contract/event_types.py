"""Facts about each event type that validation, authorisation and routing share.

An event type is the name of the ``Event.payload`` oneof field that is set (``run_created``,
``metrics`` ...); the same name travels as the ``cairn-event-type`` Kafka header. The table says
which aggregate kinds an event may belong to, whether it needs a project, whether it is an
identity event (identity topic, admin keys only), and how an event written at an older schema
version is brought up to the current one (its *upcasters*). A unit test checks the table covers
every payload field, so adding an event to the contract without deciding these facts fails.

Schema versions: writers stamp ``cairn_contract.envelopes.SCHEMA_VERSION``; ingest accepts every
version in :data:`SUPPORTED_SCHEMA_VERSIONS`; readers (the projections) call :func:`upcast`
right after decoding, so code that interprets events only ever sees the current shape. When a
payload changes meaning in version N+1, add ``upcasters={N: function}`` to its entry: the
function rewrites a version-N event in place (fields are added, never renumbered, so old bytes
still parse). Kafka keeps every event as written; upcasting happens on every read, replay too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from cairn_contract.envelopes import SCHEMA_VERSION
from cairn_contract.v1 import envelope_pb2, events_pb2

_RUN = envelope_pb2.AGGREGATE_KIND_RUN
_PROJECT = envelope_pb2.AGGREGATE_KIND_PROJECT
_MODEL = envelope_pb2.AGGREGATE_KIND_MODEL
_TEAM = envelope_pb2.AGGREGATE_KIND_TEAM
_VIEW = envelope_pb2.AGGREGATE_KIND_VIEW
_RULE = envelope_pb2.AGGREGATE_KIND_RULE

# The schema versions readers accept: every version up to the one writers stamp
# (``cairn_contract.envelopes.SCHEMA_VERSION``).
SUPPORTED_SCHEMA_VERSIONS = frozenset(range(1, SCHEMA_VERSION + 1))

# Aggregate kinds whose events must name a project (a run or project lives in one). A saved view
# belongs to a team; its project is optional (the Runs page spans projects).
PROJECT_SCOPED_AGGREGATES = frozenset({_RUN, _PROJECT})


# Rewrites an event of schema version N, in place, into version N + 1.
Upcaster = Callable[[events_pb2.Event], None]


@dataclass(frozen=True, slots=True)
class EventType:
    name: str
    aggregates: frozenset[int]  # allowed AggregateKind values
    identity: bool = False  # goes to the identity topic; only admin keys may write it
    # Upcasters by the version they read: upcasters[N] turns version N into N + 1. A version
    # step without one changes nothing but the number (the payload kept its meaning).
    upcasters: Mapping[int, Upcaster] = field(default_factory=dict)


def _types(*types: EventType) -> Mapping[str, EventType]:
    return {t.name: t for t in types}


def _run(name: str) -> EventType:
    return EventType(name, frozenset({_RUN}))


EVENT_TYPES: Mapping[str, EventType] = _types(
    _run("run_created"),
    _run("run_status_changed"),
    _run("run_resumed"),
    _run("run_renamed"),
    _run("run_description_set"),
    _run("run_archived"),
    _run("run_unarchived"),
    _run("run_forked"),
    _run("run_rewound"),
    _run("params_set"),
    _run("tags_set"),
    _run("tags_removed"),
    _run("metrics"),
    _run("system_metrics"),
    _run("histograms"),
    _run("media_logged"),
    _run("code_version_recorded"),
    _run("environment_recorded"),
    _run("dataset_recorded"),
    _run("artifact_logged"),
    EventType("lineage_edge_recorded", frozenset({_RUN, _MODEL})),
    EventType("model_registered", frozenset({_MODEL})),
    EventType("model_version_created", frozenset({_MODEL})),
    EventType("model_version_stage_changed", frozenset({_MODEL})),
    EventType("model_alias_set", frozenset({_MODEL})),
    EventType("model_alias_removed", frozenset({_MODEL})),
    EventType("model_version_updated", frozenset({_MODEL})),
    EventType("team_created", frozenset({_TEAM}), identity=True),
    EventType("member_joined", frozenset({_TEAM}), identity=True),
    EventType("member_left", frozenset({_TEAM}), identity=True),
    EventType("api_key_issued", frozenset({_TEAM}), identity=True),
    EventType("api_key_revoked", frozenset({_TEAM}), identity=True),
    EventType("project_created", frozenset({_PROJECT}), identity=True),
    EventType("comment_added", frozenset({_RUN, _PROJECT, _MODEL})),
    EventType("comment_edited", frozenset({_RUN, _PROJECT, _MODEL})),
    EventType("comment_deleted", frozenset({_RUN, _PROJECT, _MODEL})),
    EventType("decision_recorded", frozenset({_PROJECT, _RUN})),
    EventType("resource_shared", frozenset({_RUN, _VIEW, _MODEL})),
    EventType("resource_unshared", frozenset({_RUN, _VIEW, _MODEL})),
    EventType("ownership_transferred", frozenset({_RUN, _PROJECT, _MODEL})),
    EventType("project_notes_set", frozenset({_PROJECT})),
    EventType("rule_created", frozenset({_RULE})),
    EventType("rule_changed", frozenset({_RULE})),
    EventType("rule_paused", frozenset({_RULE})),
    EventType("rule_resumed", frozenset({_RULE})),
    EventType("rule_deleted", frozenset({_RULE})),
    EventType("inbox_items_read", frozenset({_TEAM})),
    EventType("view_saved", frozenset({_VIEW})),
    EventType("view_deleted", frozenset({_VIEW})),
)

IDENTITY_EVENT_TYPES = frozenset(name for name, t in EVENT_TYPES.items() if t.identity)


def event_type_of(event: events_pb2.Event) -> str | None:
    """The set payload's name, or None when the event has no payload."""
    return event.WhichOneof("payload")


def partition_key(event: events_pb2.Event, event_type: str) -> str:
    """The Kafka key: the team for identity events (one ordered stream per team), else the
    aggregate id, so every event of one run (model, project) lands in one partition in order."""
    if event_type in IDENTITY_EVENT_TYPES:
        return event.envelope.team
    return event.envelope.aggregate_id


def upcast(
    event: events_pb2.Event,
    *,
    types: Mapping[str, EventType] = EVENT_TYPES,
    current: int = SCHEMA_VERSION,
) -> events_pb2.Event:
    """``event`` brought up to schema version ``current`` in place (and returned): each step
    from version N runs the event type's ``upcasters[N]``, if it has one. An event already at
    ``current`` (or newer) is left as it is."""
    version = event.envelope.schema_version
    if version >= current:
        return event
    event_type = types.get(event.WhichOneof("payload") or "")
    while version < current:
        step = event_type.upcasters.get(version) if event_type is not None else None
        if step is not None:
            step(event)
        version += 1
        event.envelope.schema_version = version
    return event
