"""Automation rules: validation of rule events, and which notifications the rule book makes due."""

from __future__ import annotations

import math
import time

import pytest

from cairn_contract.errors import ValidationError
from cairn_contract.ids import new_uuid7
from cairn_contract.v1 import (
    automations_pb2,
    collaboration_pb2,
    envelope_pb2,
    events_pb2,
    metrics_pb2,
    models_pb2,
    runs_pb2,
)
from domain._condition_eval import evaluate
from domain.automations import Notification, delivery_id
from domain.filters import FilterError, parse_filter
from domain.projections import LogPosition, Projection
from domain.rule_book import RuleBook, RunState
from domain.validation import BatchValidator
from tests.builders import event

RULE = envelope_pb2.AGGREGATE_KIND_RULE
MODEL = envelope_pb2.AGGREGATE_KIND_MODEL


SECRET = "s3cret"  # a test rule's signing secret


def webhook(
    url: str = "http://127.0.0.1:9/hook", secret: str = SECRET
) -> automations_pb2.RuleAction:
    return automations_pb2.RuleAction(webhook=automations_pb2.WebhookAction(url=url, secret=secret))


def rule_event(
    name: str,
    trigger: str,
    *,
    condition: str = "",
    actions: list[automations_pb2.RuleAction] | None = None,
    stalled_after_s: float = 0.0,
    project: str = "",
    team: str = "risk",
) -> events_pb2.Event:
    definition = automations_pb2.RuleDefinition(
        trigger=trigger,
        condition=condition,
        project=project,
        stalled_after_s=stalled_after_s,
        actions=actions if actions is not None else [webhook()],
    )
    return event(
        "rule_created",
        automations_pb2.RuleCreated(definition=definition),
        run_id=name,
        aggregate_kind=RULE,
        sequence=0,
        team=team,
        project="",
        event_id=new_uuid7(),
    )


def check(ev: events_pb2.Event) -> None:
    BatchValidator().check(events_pb2.EventBatch(events=[ev]), now_ns=time.time_ns())


# --- validation -------------------------------------------------------------------------------


def test_a_valid_rule_passes_validation() -> None:
    check(rule_event("nan-loss", "metric.threshold", condition="isnan(metrics.loss)"))


@pytest.mark.parametrize(
    ("ev", "field", "rule"),
    [
        (rule_event("r", "run.exploded"), "rule_created.definition.trigger", "known_trigger"),
        (
            rule_event("r", "run.failed", condition="metrics.loss >"),
            "rule_created.definition.condition",
            "filter_syntax",
        ),
        (
            rule_event("r", "run.failed", condition="colour = 'red'"),
            "rule_created.definition.condition",
            "filter_field",
        ),
        (
            rule_event("r", "run.failed", actions=[webhook(url="ftp://example.com/x")]),
            "rule_created.definition.actions[0].webhook.url",
            "url_scheme",
        ),
        (
            rule_event("r", "run.failed", actions=[webhook(secret="")]),
            "rule_created.definition.actions[0].webhook.secret",
            "required",
        ),
        (rule_event("r", "run.failed", actions=[]), "rule_created.definition.actions", "required"),
        (
            rule_event("r", "metric.threshold"),
            "rule_created.definition.condition",
            "required",
        ),
        (rule_event("r", "run.stalled"), "rule_created.definition.stalled_after_s", "required"),
        (
            rule_event(
                "r",
                "run.failed",
                actions=[
                    automations_pb2.RuleAction(email=automations_pb2.EmailAction(address="x"))
                ],
            ),
            "rule_created.definition.actions[0].email.address",
            "email_format",
        ),
        (rule_event("Bad Name", "run.failed"), "envelope.aggregate_id", "slug_format"),
    ],
)
def test_bad_rules_are_refused_naming_field_and_rule(
    ev: events_pb2.Event, field: str, rule: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        check(ev)
    assert caught.value.field == f"events[0].{field}"
    assert caught.value.rule == rule


def test_isnan_is_part_of_the_filter_language() -> None:
    expr = parse_filter("metrics.loss > 10 or isnan(metrics.loss)")
    assert evaluate(expr, lambda f: math.nan)
    assert evaluate(expr, lambda f: 11.0)
    assert not evaluate(expr, lambda f: 1.0)
    assert not evaluate(expr, lambda f: None)
    with pytest.raises(FilterError) as caught:
        parse_filter("isnan(name)")
    assert caught.value.rule == "filter_type"


# --- evaluation -------------------------------------------------------------------------------


def run_created(run_id: str, **kw: object) -> events_pb2.Event:
    return event("run_created", runs_pb2.RunCreated(name="train", owner="ana"), run_id=run_id, **kw)  # type: ignore[arg-type]


def status(run_id: str, value: int, reason: str = "") -> events_pb2.Event:
    return event(
        "run_status_changed",
        runs_pb2.RunStatusChanged(status=value, reason=reason, exit_code=1),
        run_id=run_id,
    )


def loss(run_id: str, *values: float) -> events_pb2.Event:
    series = metrics_pb2.MetricSeries(key="loss", steps=list(range(len(values))), values=values)
    return event("metrics", metrics_pb2.MetricBatch(series=[series]), run_id=run_id)


def test_a_failed_run_makes_one_notification_per_action_with_a_stable_delivery_id() -> None:
    book = RuleBook()
    created = rule_event("failures", "run.failed")
    book.apply(created)
    assert book.apply(run_created("r1")) == []
    failed = status("r1", runs_pb2.RUN_STATUS_FAILED, "ZeroDivisionError")
    (note,) = book.apply(failed)
    assert note.trigger == "run.failed"
    assert note.rule == "failures"
    assert note.delivery_id == delivery_id(created.envelope.event_id, failed.envelope.event_id, 0)
    assert "ZeroDivisionError" in note.text
    body = note.body()
    assert body["delivery_id"] == note.delivery_id
    assert body["subject"]["run_id"] == "r1"
    assert "s3cret" not in note.body_bytes().decode()
    # The same events evaluated again (a restart) give the same delivery id.
    again = RuleBook()
    again.apply(created)
    again.apply(run_created("r1"))
    assert [n.delivery_id for n in again.apply(failed)] == [note.delivery_id]


def test_finished_runs_other_teams_paused_and_deleted_rules_do_not_fire() -> None:
    book = RuleBook()
    book.apply(rule_event("failures", "run.failed"))
    book.apply(rule_event("theirs", "run.failed", team="fraud"))
    book.apply(run_created("r1"))
    assert book.apply(status("r1", runs_pb2.RUN_STATUS_FINISHED)) == []
    book.apply(run_created("r2"))
    pause = event(
        "rule_paused", automations_pb2.RulePaused(), run_id="failures", aggregate_kind=RULE
    )
    book.apply(pause)
    assert book.apply(status("r2", runs_pb2.RUN_STATUS_FAILED)) == []
    book.apply(
        event("rule_resumed", automations_pb2.RuleResumed(), run_id="failures", aggregate_kind=RULE)
    )
    book.apply(run_created("r3"))
    assert len(book.apply(status("r3", runs_pb2.RUN_STATUS_FAILED))) == 1
    book.apply(
        event("rule_deleted", automations_pb2.RuleDeleted(), run_id="failures", aggregate_kind=RULE)
    )
    book.apply(run_created("r4"))
    assert book.apply(status("r4", runs_pb2.RUN_STATUS_FAILED)) == []


def test_metric_threshold_fires_once_per_run_not_once_per_point() -> None:
    book = RuleBook()
    book.apply(
        rule_event("nan", "metric.threshold", condition="metrics.loss > 10 or isnan(metrics.loss)")
    )
    book.apply(run_created("r1"))
    assert book.apply(loss("r1", 1.0, 0.5)) == []
    first = book.apply(loss("r1", math.nan))
    assert len(first) == 1
    assert book.apply(loss("r1", math.nan, math.nan)) == []
    assert book.apply(loss("r1", 50.0)) == []
    # Another run fires on its own; a restarted book maps a second crossing to the same id.
    book.apply(run_created("r2"))
    assert len(book.apply(loss("r2", 11.0))) == 1
    fresh = RuleBook(rules=book.rules)
    assert [n.delivery_id for n in fresh.apply(loss("r1", 99.0))] == [first[0].delivery_id]


def test_run_stalled_fires_after_the_configured_silence_and_heartbeats_count() -> None:
    book = RuleBook()
    book.apply(rule_event("stuck", "run.stalled", stalled_after_s=2.0))
    t0 = time.time_ns()
    book.apply(run_created("r1", occurred_at_ns=t0))
    assert book.stalled(t0 + 1_000_000_000) == []
    heartbeat = event(
        "system_metrics",
        metrics_pb2.SystemMetricBatch(),
        run_id="r1",
        occurred_at_ns=t0 + 1_500_000_000,
    )
    book.apply(heartbeat)
    assert book.stalled(t0 + 2_500_000_000) == []
    (note,) = book.stalled(t0 + 4_000_000_000)
    assert note.trigger == "run.stalled"
    assert note.subject["run_id"] == "r1"
    assert book.stalled(t0 + 9_000_000_000) == []  # one notification per silence
    book.apply(status("r1", runs_pb2.RUN_STATUS_FINISHED))
    assert book.stalled(t0 + 20_000_000_000) == []


def test_alias_moves_mentions_shares_and_handovers() -> None:
    book = RuleBook()
    book.apply(rule_event("prod", "model.alias_set", condition="tags.alias = 'production'"))
    book.apply(rule_event("mentions", "comment.mention", condition="tags.user = 'bo'"))
    book.apply(rule_event("shares", "share.received"))
    book.apply(rule_event("handovers", "handover.received"))
    book.apply(
        event(
            "model_registered",
            models_pb2.ModelRegistered(name="churn"),
            run_id="m1",
            aggregate_kind=MODEL,
        )
    )
    staging = models_pb2.ModelAliasSet(alias="staging", version=1)
    assert book.apply(event("model_alias_set", staging, run_id="m1", aggregate_kind=MODEL)) == []
    prod = models_pb2.ModelAliasSet(alias="production", version=2)
    (moved,) = book.apply(event("model_alias_set", prod, run_id="m1", aggregate_kind=MODEL))
    assert moved.subject["model"] == "churn"
    assert "version 2" in moved.text
    comment = collaboration_pb2.CommentAdded(
        comment_id="c1", body_markdown="@bo look", mentions=["bo", "cy"]
    )
    (mention,) = book.apply(event("comment_added", comment, run_id="r9"))
    assert mention.subject["mentioned"] == "bo"
    share = collaboration_pb2.ResourceShared(
        grantee=collaboration_pb2.Principal(kind=collaboration_pb2.PRINCIPAL_KIND_USER, id="cy"),
        access=collaboration_pb2.ACCESS_LEVEL_VIEW,
    )
    assert len(book.apply(event("resource_shared", share, run_id="r9"))) == 1
    handover = collaboration_pb2.OwnershipTransferred(from_user="ana", to_user="cy")
    (handed,) = book.apply(event("ownership_transferred", handover, run_id="r9"))
    assert handed.subject["to_user"] == "cy"


def test_notifications_survive_the_outbox_record_round_trip() -> None:
    book = RuleBook()
    book.apply(rule_event("failures", "run.failed"))
    book.apply(run_created("r1"))
    (note,) = book.apply(status("r1", runs_pb2.RUN_STATUS_FAILED))
    again = Notification.from_record(note.to_record())
    assert again == note
    assert again.body_bytes() == note.body_bytes()


def test_rule_events_project_without_secrets() -> None:
    projection = Projection()
    ev = rule_event("failures", "run.failed", condition="status = 'failed'")
    projection.add(ev.SerializeToString(), LogPosition("t", 0, 1))
    buffer = projection.buffers["rules"]
    row = dict(zip(buffer.schema.column_names, [c[0] for c in buffer.columns()], strict=True))
    assert row["rule"] == "failures"
    assert row["trigger"] == "run.failed"
    assert list(row["targets"]) == ["webhook http://127.0.0.1:9/hook"]
    assert "s3cret" not in repr(row)


def test_the_cli_offers_exactly_the_contract_triggers() -> None:
    from domain.automations import TRIGGERS
    from localstack.automations_cli import TRIGGERS as CLI_TRIGGERS

    assert tuple(TRIGGERS) == CLI_TRIGGERS


# --- state restored from the store after a restart ----------------------------------------------


def _restored(
    run_id: str, last_seen_ns: int, *, status: str = "running", nan: bool = False
) -> RunState:
    return RunState(
        run_id,
        "risk",
        "churn",
        attributes={"name": "quiet", "owner": "ana"},
        metrics={"loss": math.nan if nan else 1.0},
        status=status,
        last_seen_ns=last_seen_ns,
        last_event_id=f"{run_id}-last",
    )


def test_a_restored_silent_run_stalls_once_the_store_confirms_the_silence() -> None:
    book = RuleBook()
    book.apply(rule_event("stuck", "run.stalled", stalled_after_s=2.0))
    t0 = time.time_ns()
    book.restore(_restored("r1", t0))
    book.restore(_restored("r2", t0))
    later = t0 + 3_000_000_000
    assert sorted(book.stall_suspects(later)) == ["r1", "r2"]
    book.refresh("r1", _restored("r1", t0))  # still silent in the store
    book.refresh("r2", _restored("r2", later - 1_000_000_000))  # another worker saw it since
    (note,) = book.stalled(later)
    assert note.subject["run_id"] == "r1"
    assert note.subject["name"] == "quiet"
    assert note.delivery_id == delivery_id(book.rules[("risk", "stuck")].rule_id, "r1-last", 0)
    book.refresh("r2", _restored("r2", t0, status="finished"))
    assert "r2" not in book.runs  # ended elsewhere: forgotten


def test_restored_marks_keep_a_crossing_and_a_silence_from_being_notified_again() -> None:
    book = RuleBook()
    book.apply(rule_event("nan", "metric.threshold", condition="isnan(metrics.loss)"))
    book.apply(rule_event("stuck", "run.stalled", stalled_after_s=2.0))
    t0 = time.time_ns()
    book.restore(_restored("r1", t0, nan=True))
    candidates = book.restore_candidates()
    assert len(candidates) == 2
    book.restore_marks(set(candidates))  # both were attempted before the restart
    assert book.stall_suspects(t0 + 3_000_000_000) == []  # this silence was notified
    assert book.stalled(t0 + 3_000_000_000) == []
    assert book.apply(loss("r1", math.nan)) == []  # the run goes on: no second crossing
    fresh = RuleBook()
    fresh.apply(rule_event("nan", "metric.threshold", condition="isnan(metrics.loss)"))
    fresh.restore(_restored("r1", t0, nan=True))
    fresh.restore_marks(set())  # never attempted: due at the next point
    assert len(fresh.apply(loss("r1", math.nan))) == 1


def test_a_run_the_stream_already_showed_keeps_its_state_and_gains_what_it_lacks() -> None:
    book = RuleBook()
    t0 = time.time_ns()
    book.apply(loss("r1", 0.5))  # after the restart, before any run_created of it
    book.restore(_restored("r1", t0 - 10_000_000_000))
    run = book.runs["r1"]
    assert not run.restored
    assert run.metrics["loss"] == 0.5  # the stream's value wins
    assert run.attributes["name"] == "quiet"  # the store fills in the name
