"""The rule book: which notifications are due, given the event log so far (pure, no I/O).

:class:`RuleBook` is fed events in log order (:meth:`RuleBook.apply`) and returns the
notifications each one makes due; :meth:`RuleBook.stalled` is called by a timer with the current
time and returns ``run.stalled`` notifications for running runs that have been silent too long.
It keeps only what evaluation needs: the rules, and per live run its attributes, params, tags and
latest metric values. The processors' automation agent owns one book per worker.

Firing rules (docs/automations.md):

- ``run.failed`` / ``run.finished`` / ``run.killed``: the run's status changes to that status and
  the condition (over the run's attributes, params, tags and latest metrics) holds.
- ``sweep.finished``: a sweep's parent run (tag ``cairn.sweep.role = sweep``) ends.
- ``metric.threshold``: a metrics event makes the condition true; fires once per run and rule
  (the delivery id is derived from the run id, so a second crossing maps to the same delivery).
- ``run.stalled``: no event from a running run for ``stalled_after_s``; fires once per silence
  (the delivery id is derived from the run's last event, so a run that resumes and stalls again
  notifies again).
- ``model.alias_set``, ``comment.mention``, ``share.received``, ``handover.received``: the event
  itself; conditions see ``tags.alias``/``tags.model``/``tags.version`` for alias moves and
  ``tags.user`` for mentions, shares and handovers.

After a restart (or on a worker that does not own a run's partition) the book learns live runs
from the store (:meth:`RuleBook.restore`, marked ``restored``), with which of their
``metric.threshold`` and ``run.stalled`` notifications were already attempted
(:meth:`RuleBook.restore_marks`), so a silent run still stalls and a crossing is not notified
twice. A restored run that looks silent is confirmed with the store before it is notified
(:meth:`RuleBook.stall_suspects`, :meth:`RuleBook.refresh`): another worker may be seeing it.

Why one module of ~480 lines: one class whose state (rules, live runs, notified marks) every
method reads and writes; split, each half would reach into the other's fields.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from cairn_contract.sweep_record import ROLE_TAG
from cairn_contract.v1 import (
    collaboration_pb2,
    envelope_pb2,
    events_pb2,
    runs_pb2,
)
from domain._condition_eval import evaluate
from domain.automations import Notification, Rule, delivery_id
from domain.filters import Expr, Field, Namespace, Value, parse_filter

_ENDINGS = {
    runs_pb2.RUN_STATUS_FINISHED: "run.finished",
    runs_pb2.RUN_STATUS_FAILED: "run.failed",
    runs_pb2.RUN_STATUS_KILLED: "run.killed",
}
_STATUS = {
    runs_pb2.RUN_STATUS_RUNNING: "running",
    runs_pb2.RUN_STATUS_FINISHED: "finished",
    runs_pb2.RUN_STATUS_FAILED: "failed",
    runs_pb2.RUN_STATUS_KILLED: "killed",
}

# Events about a run written by people, not by its process: they do not show the run is alive.
_NOT_FROM_THE_RUN = frozenset(
    {"comment_edited", "comment_deleted", "decision_recorded", "resource_unshared"}
)


@dataclass
class RunState:
    """What the book knows about one run: enough to evaluate conditions and notice silence."""

    run_id: str
    team: str
    project: str
    attributes: dict[str, Value] = field(default_factory=dict)
    params: dict[str, Value] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    status: str = "running"
    last_seen_ns: int = 0
    last_event_id: str = ""
    fired: set[str] = field(default_factory=set)  # rule ids whose metric.threshold fired
    stall_noticed: set[str] = field(default_factory=set)  # rule ids notified of this silence
    restored: bool = False  # learnt from the store, no event of it seen by this book yet

    def lookup(self, f: Field) -> Value | None:
        if f.namespace is Namespace.ATTRIBUTE:
            if f.name == "status":
                return self.status
            return self.attributes.get(f.name)
        if f.namespace is Namespace.PARAMS:
            return self.params.get(f.name)
        if f.namespace is Namespace.TAGS:
            return self.tags.get(f.name)
        return self.metrics.get(f.name)  # latest value; min/max are not tracked

    def subject(self) -> dict[str, Any]:
        return {
            "kind": "run",
            "run_id": self.run_id,
            "name": self.attributes.get("name", ""),
            "owner": self.attributes.get("owner", ""),
            "status": self.status,
            "metrics": {k: (None if math.isnan(v) else v) for k, v in self.metrics.items()},
        }


class _Lookup:
    """A flat subject (model alias moves, comments) as filter-language values."""

    def __init__(self, tags: Mapping[str, str]) -> None:
        self.tags = tags

    def __call__(self, f: Field) -> Value | None:
        if f.namespace is Namespace.TAGS:
            return self.tags.get(f.name)
        return None


@dataclass
class RuleBook:
    rules: dict[tuple[str, str], Rule] = field(default_factory=dict)
    runs: dict[str, RunState] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)  # model id -> name
    _conditions: dict[str, Expr | None] = field(default_factory=dict)

    # -- feeding ---------------------------------------------------------------------------------

    def apply(self, event: events_pb2.Event) -> list[Notification]:
        """Update the book with one event; return the notifications it makes due."""
        kind = event.WhichOneof("payload") or ""
        env = event.envelope
        if kind.startswith("rule_"):
            self._apply_rule(event, kind)
            return []
        if kind == "comment_added":
            mentions = list(event.comment_added.mentions)
            return self._mentions(event, mentions) if mentions else []
        if kind in ("resource_shared", "ownership_transferred"):
            return self._received(event, kind)
        if kind in _NOT_FROM_THE_RUN:
            return []
        if env.aggregate_kind == envelope_pb2.AGGREGATE_KIND_RUN:
            return self._apply_run(event, kind)
        if kind == "model_registered":
            self.models[env.aggregate_id] = event.model_registered.name
        elif kind == "model_alias_set":
            a = event.model_alias_set
            name = self.models.get(env.aggregate_id, env.aggregate_id)
            tags = {"alias": a.alias, "model": name, "version": str(a.version)}
            text = f"{name}: alias {a.alias} now points to version {a.version}"
            subject = {"kind": "model", "model_id": env.aggregate_id, **tags}
            return self._fire("model.alias_set", event, tags, text, subject)
        return []

    def load_rules(self, events: Iterable[events_pb2.Event]) -> None:
        """Replace the rules by those the given rule events (in log order) build."""
        self.rules = {}
        self._conditions = {}
        for event in events:
            self._apply_rule(event, event.WhichOneof("payload") or "")

    def _apply_rule(self, event: events_pb2.Event, kind: str) -> None:
        env = event.envelope
        key = (env.team, env.aggregate_id)
        current = self.rules.get(key)
        if kind == "rule_created":
            d = event.rule_created.definition
            self.rules[key] = Rule.from_definition(env.team, env.aggregate_id, env.event_id, d)
        elif current is None:
            return
        elif kind == "rule_changed":
            d = event.rule_changed.definition
            rule = Rule.from_definition(env.team, env.aggregate_id, current.rule_id, d)
            self.rules[key] = replace(rule, paused=current.paused)
        elif kind in ("rule_paused", "rule_resumed"):
            self.rules[key] = replace(current, paused=kind == "rule_paused")
        elif kind == "rule_deleted":
            del self.rules[key]

    # -- runs ------------------------------------------------------------------------------------

    def _apply_run(self, event: events_pb2.Event, kind: str) -> list[Notification]:
        env = event.envelope
        run = self.runs.get(env.aggregate_id)
        if run is None:
            run = RunState(env.aggregate_id, env.team, env.project)
            self.runs[env.aggregate_id] = run
        run.last_seen_ns = max(run.last_seen_ns, env.received_at_ns or env.occurred_at_ns)
        run.last_event_id = env.event_id
        run.restored = False
        run.stall_noticed.clear()  # a new silence starts now
        if kind == "run_created":
            c = event.run_created
            run.attributes.update(
                name=c.name,
                owner=c.owner or env.actor.on_behalf_of or env.actor.id,
                created_by=env.actor.on_behalf_of or env.actor.id,
                host=c.host,
                parent_run_id=c.parent_run_id,
                sweep_id=c.sweep_id,
                run_id=env.aggregate_id,
                team=env.team,
                project=env.project,
            )
            run.status = "running"
        elif kind == "run_renamed":
            run.attributes["name"] = event.run_renamed.name
        elif kind == "run_resumed":
            run.status = "running"
        elif kind == "params_set":
            for p in event.params_set.params:
                which = p.value.WhichOneof("kind")
                run.params[p.key] = getattr(p.value, which) if which else ""
        elif kind == "tags_set":
            run.tags.update({t.key: t.value for t in event.tags_set.tags})
        elif kind == "tags_removed":
            for key in event.tags_removed.keys:
                run.tags.pop(key, None)
        elif kind == "metrics":
            return self._metrics(event, run)
        elif kind == "run_status_changed":
            return self._status(event, run)
        return []

    def _metrics(self, event: events_pb2.Event, run: RunState) -> list[Notification]:
        for series in event.metrics.series:
            # The value at the highest step (the first such, as ``max`` would pick), found with
            # C-level list operations: a Python call per point made this a quarter of the
            # processors' time under load (bench.e2e_throughput --flamegraphs).
            steps = list(series.steps)
            if steps and series.values:
                run.metrics[series.key] = series.values[steps.index(max(steps))]
        due = []
        for rule in self._matching("metric.threshold", event.envelope):
            if rule.rule_id in run.fired:
                continue
            if evaluate(self._condition(rule), run.lookup):
                run.fired.add(rule.rule_id)
                keys = ", ".join(sorted(run.metrics))
                text = f"run {_run_label(run)}: {rule.condition} (latest {keys})"
                due += _notify(rule, run.run_id, event, text, run.subject())
        return due

    def _status(self, event: events_pb2.Event, run: RunState) -> list[Notification]:
        change = event.run_status_changed
        run.status = _STATUS.get(change.status, run.status)
        run.attributes["exit_code"] = float(change.exit_code)
        run.attributes["status_reason"] = change.reason
        trigger = _ENDINGS.get(change.status)
        if trigger is None:
            return []
        due = []
        subject = run.subject() | {"reason": change.reason, "exit_code": change.exit_code}
        for rule in self._matching(trigger, event.envelope):
            if evaluate(self._condition(rule), run.lookup):
                text = f"run {_run_label(run)} {run.status}" + (
                    f": {change.reason}" if change.reason else ""
                )
                due += _notify(rule, event.envelope.event_id, event, text, subject)
        if run.tags.get(ROLE_TAG) == "sweep":
            for rule in self._matching("sweep.finished", event.envelope):
                if evaluate(self._condition(rule), run.lookup):
                    text = f"sweep {_run_label(run)} {run.status}"
                    due += _notify(rule, event.envelope.event_id, event, text, subject)
        del self.runs[run.run_id]  # ended: nothing more to watch (a resume starts a new state)
        return due

    # -- state from the store (after a restart) ---------------------------------------------------

    def restore(self, state: RunState) -> None:
        """Add a live run learnt from the store; a run the stream already showed keeps its state
        and only gains the fields it lacks (its ``run_created`` came before the restart)."""
        current = self.runs.get(state.run_id)
        if current is None:
            state.restored = True
            self.runs[state.run_id] = state
            return
        for mine, theirs in (
            (current.attributes, state.attributes),
            (current.params, state.params),
            (current.tags, state.tags),
            (current.metrics, state.metrics),
        ):
            for key, value in theirs.items():
                mine.setdefault(key, value)  # type: ignore[arg-type]

    def restore_candidates(self) -> list[str]:
        """Delivery ids whose attempts the store must confirm for :meth:`restore_marks`."""
        return [note_id for note_id, _, _, _ in self._marks()]

    def restore_marks(self, attempted: set[str]) -> None:
        """Mark thresholds already crossed and silences already notified, from the delivery log."""
        for note_id, run, rule, kind in self._marks():
            if note_id in attempted:
                (run.fired if kind == "metric.threshold" else run.stall_noticed).add(rule.rule_id)

    def _marks(self) -> list[tuple[str, RunState, Rule, str]]:
        found = []
        for run in self.runs.values():
            for rule in self.rules.values():
                if rule.trigger not in ("metric.threshold", "run.stalled"):
                    continue
                if run.team != rule.team or (rule.project and rule.project != run.project):
                    continue
                key = run.run_id if rule.trigger == "metric.threshold" else run.last_event_id
                for i in range(len(rule.actions)):
                    found.append((delivery_id(rule.rule_id, key, i), run, rule, rule.trigger))
        return found

    def stall_suspects(self, now_ns: int) -> list[str]:
        """Restored runs that would stall now: confirm them with the store first."""
        limits = [
            (r.team, r.project, int(r.stalled_after_s * 1e9))
            for r in self.rules.values()
            if r.trigger == "run.stalled" and not r.paused
        ]
        return [
            run.run_id
            for run in self.runs.values()
            if run.restored
            and not run.stall_noticed
            and any(
                run.team == team
                and (not project or project == run.project)
                and now_ns - run.last_seen_ns >= limit
                for team, project, limit in limits
            )
        ]

    def refresh(self, run_id: str, state: RunState | None) -> None:
        """What the store says now about a restored run: gone or ended, or seen since."""
        run = self.runs.get(run_id)
        if run is None or not run.restored:
            return
        if state is None or state.status != "running":
            del self.runs[run_id]
            return
        if state.last_seen_ns > run.last_seen_ns:
            run.last_seen_ns = state.last_seen_ns
            if state.last_event_id != run.last_event_id:
                run.last_event_id = state.last_event_id
                run.stall_noticed.clear()
        run.metrics.update(state.metrics)

    def stalled(self, now_ns: int) -> list[Notification]:
        """``run.stalled`` notifications for running runs silent for longer than a rule allows."""
        due = []
        for rule in self.rules.values():
            if rule.paused or rule.trigger != "run.stalled":
                continue
            limit_ns = int(rule.stalled_after_s * 1e9)
            for run in self.runs.values():
                if run.team != rule.team or (rule.project and rule.project != run.project):
                    continue
                if run.status != "running" or now_ns - run.last_seen_ns < limit_ns:
                    continue
                if rule.rule_id in run.stall_noticed:
                    continue
                if not evaluate(self._condition(rule), run.lookup):
                    continue
                run.stall_noticed.add(rule.rule_id)
                silent = (now_ns - run.last_seen_ns) / 1e9
                text = f"run {_run_label(run)} sent nothing for {silent:.0f} s"
                for i, action in enumerate(rule.actions):
                    due.append(
                        Notification(
                            delivery_id=delivery_id(rule.rule_id, run.last_event_id, i),
                            team=rule.team,
                            rule=rule.name,
                            trigger=rule.trigger,
                            event_id=run.last_event_id,
                            occurred_at_ns=now_ns,
                            action=action,
                            project=run.project,
                            text=text,
                            subject=run.subject() | {"silent_s": round(silent, 1)},
                        )
                    )
        return due

    # -- collaboration -----------------------------------------------------------------------------

    def _mentions(self, event: events_pb2.Event, users: list[str]) -> list[Notification]:
        env = event.envelope
        c = event.comment_added
        author = env.actor.on_behalf_of or env.actor.id
        due = []
        for user in users:
            tags = {"user": user, "author": author}
            text = f"{author} mentioned {user} on {env.aggregate_id}: {c.body_markdown[:200]}"
            subject = {
                "kind": "comment",
                "comment_id": c.comment_id,
                "target_id": env.aggregate_id,
                "mentioned": user,
                "author": author,
            }
            due += self._fire("comment.mention", event, tags, text, subject, key=user)
        return due

    def _received(self, event: events_pb2.Event, kind: str) -> list[Notification]:
        env = event.envelope
        actor = env.actor.on_behalf_of or env.actor.id
        if kind == "resource_shared":
            grantee = event.resource_shared.grantee
            user = grantee.id
            gkind = "team" if grantee.kind == collaboration_pb2.PRINCIPAL_KIND_TEAM else "user"
            text = f"{actor} shared {env.aggregate_id} with {gkind} {user}"
            return self._fire(
                "share.received",
                event,
                {"user": user},
                text,
                {"kind": "share", "target_id": env.aggregate_id, "grantee": user, "by": actor},
            )
        t = event.ownership_transferred
        text = f"{actor} handed {env.aggregate_id} over to {t.to_user}"
        subject = {"kind": "handover", "target_id": env.aggregate_id, "to_user": t.to_user}
        return self._fire("handover.received", event, {"user": t.to_user}, text, subject)

    # -- helpers ---------------------------------------------------------------------------------

    def _fire(
        self,
        trigger: str,
        event: events_pb2.Event,
        tags: Mapping[str, str],
        text: str,
        subject: Mapping[str, Any],
        key: str = "",
    ) -> list[Notification]:
        due = []
        for rule in self._matching(trigger, event.envelope):
            if evaluate(self._condition(rule), _Lookup(tags)):
                trigger_key = event.envelope.event_id + (f"/{key}" if key else "")
                due += _notify(rule, trigger_key, event, text, subject)
        return due

    def _matching(self, trigger: str, env: envelope_pb2.Envelope) -> list[Rule]:
        return [
            rule
            for rule in self.rules.values()
            if rule.trigger == trigger
            and not rule.paused
            and rule.team == env.team
            and (not rule.project or rule.project == env.project)
        ]

    def _condition(self, rule: Rule) -> Expr | None:
        if rule.condition not in self._conditions:
            self._conditions[rule.condition] = parse_filter(rule.condition)
        return self._conditions[rule.condition]


def _run_label(run: RunState) -> str:
    name = run.attributes.get("name")
    return f"{name} ({run.run_id})" if name else run.run_id


def _notify(
    rule: Rule, trigger_key: str, event: events_pb2.Event, text: str, subject: Mapping[str, Any]
) -> list[Notification]:
    env = event.envelope
    if rule.trigger == "metric.threshold":
        trigger_key = env.aggregate_id  # once per run and rule
    return [
        Notification(
            delivery_id=delivery_id(rule.rule_id, trigger_key, i),
            team=rule.team,
            rule=rule.name,
            trigger=rule.trigger,
            event_id=env.event_id,
            occurred_at_ns=env.occurred_at_ns,
            action=action,
            project=env.project,
            text=text,
            subject=dict(subject),
        )
        for i, action in enumerate(rule.actions)
    ]
