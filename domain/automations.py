"""Automation rules: the trigger vocabulary, rule definitions, notifications (pure).

A rule is an aggregate (``AGGREGATE_KIND_RULE``, id = its name, unique within its team) built by
``rule_created``/``rule_changed``/``rule_paused``/``rule_resumed``/``rule_deleted`` events. It
holds a trigger (:data:`TRIGGERS`), an optional condition in the run filter language and one or
more actions. :mod:`domain.rule_book` evaluates rules against the event log and returns
:class:`Notification` s; the processors deliver them.

Every notification has a deterministic ``delivery_id``: a UUIDv5 of the rule's identity (the
``event_id`` of its ``rule_created`` event), the triggering key (the triggering event's id; the
run id for ``metric.threshold``, which fires once per run and rule) and the action's index. The
same event evaluated again after a restart maps to the same delivery, which is how the delivery
log and receivers de-duplicate.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast
from urllib.parse import urlsplit

from google.protobuf.message import Message

from cairn_contract.field_rules import fail
from cairn_contract.v1 import automations_pb2, envelope_pb2, events_pb2
from domain.filters import FilterError, parse_filter

# Trigger -> what fires it (docs/automations.md lists the same table).
TRIGGERS: Mapping[str, str] = {
    "run.failed": "a run ends with status failed",
    "run.finished": "a run ends with status finished",
    "run.killed": "a run ends with status killed",
    "run.stalled": "a running run sent no event (heartbeats and system metrics count) for N minutes",
    "metric.threshold": "the condition over a run's latest values becomes true (once per run)",
    "model.alias_set": "a model alias is set or moved (tags.alias, tags.model in the condition)",
    "comment.mention": "a comment mentions someone",
    "share.received": "a run or view is shared with a user or team",
    "handover.received": "a run, model or project is handed over to someone",
    "sweep.finished": "a sweep (its parent run) ends",
}
RUN_TRIGGERS = frozenset({"run.failed", "run.finished", "run.killed", "run.stalled"})
ACTION_KINDS = ("webhook", "email", "inbox")
WEBHOOK_SCHEMES = frozenset({"http", "https"})
_DELIVERY_NAMESPACE = uuid.UUID("6f1d8f4e-2b0c-5a7e-9c43-0e3a55c1a9d2")


def check_definition(message: Message, path: str) -> None:
    """Cross-field rules of a :class:`RuleDefinition` (validation calls this after field rules)."""
    definition = cast(automations_pb2.RuleDefinition, message)
    trigger = definition.trigger
    if trigger not in TRIGGERS:
        known = ", ".join(TRIGGERS)
        fail(f"{path}.trigger", "known_trigger", f"{trigger[:80]!r} is not a trigger ({known})")
    if definition.condition:
        try:
            parse_filter(definition.condition)
        except FilterError as exc:
            rule = exc.rule or "filter_syntax"
            fail(f"{path}.condition", rule, f"{exc.reason} at position {exc.position}")
    elif trigger == "metric.threshold":
        fail(f"{path}.condition", "required", "is required for metric.threshold")
    if trigger == "run.stalled" and not definition.stalled_after_s > 0:
        fail(f"{path}.stalled_after_s", "required", "must be > 0 for run.stalled")
    if trigger != "run.stalled" and definition.stalled_after_s:
        fail(f"{path}.stalled_after_s", "stalled_only", "only applies to run.stalled")
    for i, action in enumerate(definition.actions):
        if action.WhichOneof("target") == "webhook":
            check_webhook_url(action.webhook.url, f"{path}.actions[{i}].webhook.url")
            if not action.webhook.secret and not action.webhook.sealed_secret:
                fail(f"{path}.actions[{i}].webhook.secret", "required", "is required")
        elif action.WhichOneof("target") == "email":
            address = action.email.address
            local, at, domain = address.rpartition("@")
            if not at or not local or "." not in domain or any(c.isspace() for c in address):
                fail(
                    f"{path}.actions[{i}].email.address",
                    "email_format",
                    f"{address[:80]!r} is not an email address like name@example.com",
                )


def check_webhook_url(url: str, path: str) -> None:
    """Only absolute http(s) URLs with a host; no credentials in the URL."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in WEBHOOK_SCHEMES:
        fail(path, "url_scheme", f"{url[:80]!r} must start with http:// or https://")
    if not parts.hostname:
        fail(path, "url_host", f"{url[:80]!r} has no host")
    if parts.username or parts.password:
        fail(path, "url_credentials", "must not carry a user name or password")


def secret_bound_to(team: str, rule: str) -> str:
    """What a rule's webhook secret is sealed for (ingest seals, the processors open with it)."""
    return f"rule:{team}/{rule}"


@dataclass(frozen=True, slots=True)
class Action:
    kind: str  # webhook | email | inbox
    target: str  # URL, address or user id
    # Webhooks only, never shown in reads. ``sealed``: the secret as ingest sealed it (base64;
    # opened by the processors only when signing). ``secret``: a plain secret, only in rules
    # written before ingest sealed secrets.
    secret: str = ""
    sealed: str = ""

    @classmethod
    def from_proto(cls, action: automations_pb2.RuleAction) -> Action:
        which = action.WhichOneof("target")
        if which == "webhook":
            hook = action.webhook
            sealed = base64.b64encode(hook.sealed_secret).decode() if hook.sealed_secret else ""
            return cls("webhook", hook.url, hook.secret, sealed)
        if which == "email":
            return cls("email", action.email.address)
        return cls("inbox", action.inbox.user_id)

    def to_dict(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "target": self.target,
            "secret": self.secret,
            "sealed": self.sealed,
        }


@dataclass(frozen=True, slots=True)
class Rule:
    team: str
    name: str
    rule_id: str  # event_id of the rule_created event: the rule's identity across renames
    trigger: str
    condition: str = ""
    project: str = ""
    stalled_after_s: float = 0.0
    actions: tuple[Action, ...] = ()
    paused: bool = False

    @classmethod
    def from_definition(
        cls, team: str, name: str, rule_id: str, d: automations_pb2.RuleDefinition
    ) -> Rule:
        return cls(
            team=team,
            name=name,
            rule_id=rule_id,
            trigger=d.trigger,
            condition=d.condition,
            project=d.project,
            stalled_after_s=d.stalled_after_s,
            actions=tuple(Action.from_proto(a) for a in d.actions),
        )


def delivery_id(rule_id: str, trigger_key: str, action_index: int) -> str:
    """The stable id of one notification: the same inputs give the same id after any restart."""
    return str(uuid.uuid5(_DELIVERY_NAMESPACE, f"{rule_id}/{trigger_key}/{action_index}"))


@dataclass(frozen=True, slots=True)
class Notification:
    """One action due for one rule and one triggering event; :meth:`body` is what is sent."""

    delivery_id: str
    team: str
    rule: str
    trigger: str
    event_id: str  # the triggering event (for run.stalled: the run's last event)
    occurred_at_ns: int
    action: Action
    project: str = ""
    text: str = ""
    subject: Mapping[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        """The documented webhook JSON body (docs/automations.md); no secret in it."""
        occurred = datetime.fromtimestamp(self.occurred_at_ns / 1e9, UTC)
        return {
            "delivery_id": self.delivery_id,
            "trigger": self.trigger,
            "rule": {"team": self.team, "name": self.rule},
            "team": self.team,
            "project": self.project,
            "event_id": self.event_id,
            "occurred_at": occurred.isoformat().replace("+00:00", "Z"),
            "text": self.text,
            "subject": dict(self.subject),
        }

    def body_bytes(self) -> bytes:
        """The exact bytes that are signed and sent (sorted keys: stable across retries)."""
        return json.dumps(self.body(), sort_keys=True, separators=(",", ":")).encode()

    def to_record(self) -> bytes:
        """Serialized for the outbox topic (with the action: a webhook's secret only sealed)."""
        record = {
            "delivery_id": self.delivery_id,
            "team": self.team,
            "rule": self.rule,
            "trigger": self.trigger,
            "event_id": self.event_id,
            "occurred_at_ns": self.occurred_at_ns,
            "action": self.action.to_dict(),
            "project": self.project,
            "text": self.text,
            "subject": dict(self.subject),
        }
        return json.dumps(record, sort_keys=True).encode()

    @classmethod
    def from_record(cls, data: bytes) -> Notification:
        r = json.loads(data)
        return cls(
            delivery_id=r["delivery_id"],
            team=r["team"],
            rule=r["rule"],
            trigger=r["trigger"],
            event_id=r["event_id"],
            occurred_at_ns=int(r["occurred_at_ns"]),
            action=Action(**r["action"]),
            project=r.get("project", ""),
            text=r.get("text", ""),
            subject=r.get("subject", {}),
        )


def rule_event(
    kind: str,
    *,
    team: str,
    name: str,
    now_ns: int,
    event_id: str,
    definition: automations_pb2.RuleDefinition | None = None,
    reason: str = "",
) -> events_pb2.Event:
    """A rule event (``rule_created`` ... ``rule_deleted``) ready for ingest; ingest sets the actor."""
    event = events_pb2.Event(
        envelope=envelope_pb2.Envelope(
            event_id=event_id,
            schema_version=1,
            aggregate_kind=envelope_pb2.AGGREGATE_KIND_RULE,
            aggregate_id=name,
            occurred_at_ns=now_ns,
            team=team,
        )
    )
    if kind in ("rule_created", "rule_changed"):
        getattr(event, kind).definition.CopyFrom(definition or automations_pb2.RuleDefinition())
    else:
        getattr(event, kind).reason = reason
    return event


def inbox_read_event(
    *, team: str, user_id: str, item_ids: list[str], now_ns: int, event_id: str
) -> events_pb2.Event:
    """Marks inbox items read (the portal sends it as the signed-in person)."""
    event = events_pb2.Event(
        envelope=envelope_pb2.Envelope(
            event_id=event_id,
            schema_version=1,
            aggregate_kind=envelope_pb2.AGGREGATE_KIND_TEAM,
            aggregate_id=team,
            occurred_at_ns=now_ns,
            team=team,
        )
    )
    event.inbox_items_read.user_id = user_id
    event.inbox_items_read.item_ids.extend(item_ids)
    return event
