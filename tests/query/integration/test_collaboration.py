"""Comments, decisions, shares, ownership, notes and activity feeds on the real engine."""

from __future__ import annotations

from datetime import timedelta

import pytest
from clickhouse_connect.driver.client import Client

from cairn.errors import ValidationError
from query.collaboration import (
    activity,
    comments,
    decisions,
    ownership_history,
    project_notes,
    shares,
)
from tests.query.integration.callers import ADMIN, ALICE, CAROL, DAVE, STRANGER
from tests.query.integration.conftest import World

pytestmark = pytest.mark.integration


def test_a_comment_thread_with_an_edit_a_reply_and_a_tombstone(client: Client) -> None:
    thread = comments(client, ALICE, "run", "r-churn-1")
    assert [c.comment_id for c in thread] == ["c1", "c2", "c3"]
    c1, c2, c3 = thread
    assert c1.body_markdown == "plateau at 3k steps (edited)"
    assert c1.edit_count == 1
    assert (c1.anchor_metric, c1.anchor_step_min, c1.anchor_step_max) == ("loss", 2900, 3100)
    assert c2.reply_to == "c1"
    assert c2.mentions == ("bob",)
    assert c2.author == "alice"
    assert c3.deleted
    assert c3.deleted_by == "alice"
    assert c3.body_markdown == ""


def test_admins_see_a_deleted_comments_body(client: Client) -> None:
    c3 = comments(client, ADMIN, "run", "r-churn-1")[2]
    assert c3.deleted
    assert c3.body_markdown == "SECRET-TOKEN oops"


def test_comments_follow_the_visibility_of_their_target(client: Client) -> None:
    assert comments(client, CAROL, "run", "r-churn-1") == ()
    assert comments(client, ALICE, "run", "v-det-1") == ()
    assert [c.comment_id for c in comments(client, DAVE, "run", "v-det-1")] == ["c4"]
    assert comments(client, STRANGER, "run", "r-churn-2") == ()
    with pytest.raises(ValidationError):
        comments(client, ALICE, "", "r-churn-1")


def test_decisions_by_project_run_and_target(client: Client) -> None:
    assert [d.decision_id for d in decisions(client, ALICE)] == ["d1"]
    d1 = decisions(client, ALICE, project="churn")[0]
    assert d1.title == "ship v2"
    assert d1.run_ids == ("r-churn-2", "r-churn-1")
    assert [d.decision_id for d in decisions(client, ALICE, run_id="r-churn-1")] == ["d1"]
    assert decisions(client, ALICE, run_id="v-det-1") == ()
    assert decisions(client, ALICE, target_kind="project", target_id="churn")[0].author == "alice"
    assert [d.decision_id for d in decisions(client, DAVE)] == ["d2"]  # shared project
    assert decisions(client, STRANGER) == ()


def test_shares_of_an_object(client: Client) -> None:
    found = shares(client, ALICE, "run", "n-chat-1")
    assert [(s.grantee_kind, s.grantee_id, s.access, s.active) for s in found] == [
        ("user", "alice", "view", True)
    ]
    assert shares(client, CAROL, "run", "n-chat-1") == ()
    assert shares(client, CAROL, "run", "v-det-2") == ()  # revoked
    revoked = shares(client, CAROL, "run", "v-det-2", include_revoked=True)
    assert [(s.grantee_id, s.active) for s in revoked] == [("risk", False)]
    assert [s.grantee_id for s in shares(client, DAVE, "project", "detector")] == ["nlp"]


def test_ownership_history(client: Client) -> None:
    history = ownership_history(client, ALICE, "run", "r-churn-3")
    assert [(h.from_user, h.to_user, h.reason) for h in history] == [
        ("alice", "bob", "alice moves to credit")
    ]
    assert ownership_history(client, CAROL, "run", "r-churn-3") == ()


def test_project_notes(client: Client) -> None:
    notes = project_notes(client, ALICE, "risk", "churn")
    assert notes is not None
    assert notes.body_markdown.startswith("# Churn")
    assert notes.updated_by == "alice"
    assert project_notes(client, CAROL, "risk", "churn") is None
    assert project_notes(client, ALICE, "risk", "credit") is None


def test_activity_feed_of_a_project_newest_first_without_metric_batches(client: Client) -> None:
    feed = activity(client, ALICE, project="churn", limit=1000)
    assert feed
    assert all(a.project == "churn" and a.team == "risk" for a in feed)
    assert [a.occurred_at for a in feed] == sorted((a.occurred_at for a in feed), reverse=True)
    kinds = {a.event_type for a in feed}
    assert {"run_created", "comment_added", "model_version_created", "decision_recorded"} <= kinds
    assert not kinds & {"metrics", "system_metrics"}
    event_ids = [a.event_id for a in feed]
    assert len(event_ids) == len(set(event_ids))  # redelivered events appear once


def test_activity_feed_is_scoped_to_what_the_caller_may_see(client: Client, world: World) -> None:
    mine = activity(client, ALICE, limit=1000)
    assert {a.team for a in mine} == {"risk", "nlp"}
    assert {a.aggregate_id for a in mine if a.team == "nlp"} == {"n-chat-1"}
    assert activity(client, ALICE, team="vision") == ()
    assert activity(client, STRANGER) == ()
    bob = activity(client, ALICE, run_id="r-churn-1", actor="bob")
    assert {a.event_type for a in bob} == {"comment_added", "comment_edited"}
    recent = activity(client, ALICE, since=world.clock.now + timedelta(days=1))
    assert recent == ()
    assert len(activity(client, ALICE, limit=3)) == 3
    with pytest.raises(ValidationError):
        activity(client, ALICE, limit=0)
