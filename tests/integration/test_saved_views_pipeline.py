"""Saved views through the real write path (ingest, Kafka, processors, ClickHouse) and read back
with ``query.saved_views`` as different callers (docs/permissions.md, W23 and R19).

The pipeline's writer key writes every event, so the views' owner is that key's holder; the
test reads who that is from the first view and asks as that person, a teammate, a person of
another team, and that person once the view is shared with them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import grpc
import pytest

from cairn_contract.errors import NotFoundError
from cairn_contract.ids import new_uuid7
from cairn_contract.v1 import envelope_pb2, events_pb2, ingest_pb2_grpc
from query.access import Caller
from query.saved_views import get_view, list_views, user_default
from tests.event_samples import sample_event
from tests.pipeline import TEAM, Pipeline
from ui.saved_views import view_saved_event

pytestmark = pytest.mark.integration

TEAMMATE = Caller("teammate", frozenset({TEAM}))
OUTSIDER = Caller("outsider", frozenset({"elsewhere"}))


def append(pipeline: Pipeline, *events: events_pb2.Event) -> None:
    for event in events:
        event.envelope.actor.Clear()  # the writer key speaks for itself (no on_behalf_of)
    with grpc.insecure_channel(pipeline.ingest.address) as channel:
        ingest_pb2_grpc.IngestStub(channel).Append(
            events_pb2.EventBatch(events=list(events)),
            metadata=(("authorization", f"Bearer {pipeline.stack.api_key}"),),
            timeout=30,
        )


def wait_for(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"{what} not in the store within {timeout}s")


def saved(view_id: str, name: str, visibility: str, **params: str) -> events_pb2.Event:
    return view_saved_event(
        view_id, team=TEAM, person="", name=name, params=params, visibility=visibility
    )


def test_views_project_exactly_once_and_show_only_to_who_may_see_them(
    pipeline: Pipeline,
) -> None:
    client = pipeline.client()
    team_view, personal_view = new_uuid7(), new_uuid7()
    first = saved(team_view, "Best AUC", "team", filter="metrics.val/auc > 0.9", cols="name")
    append(pipeline, first, saved(personal_view, "Mine", "personal", sort="name asc"))
    append(pipeline, first)  # the same event again (a client retry): still one view
    (shown,) = wait_for(lambda: list_views(client, TEAMMATE), "the team view for a teammate")
    owner = Caller(shown.owner, frozenset({TEAM}))
    assert (shown.view_id, shown.name, shown.visibility, shown.team) == (
        team_view,
        "Best AUC",
        "team",
        TEAM,
    )
    assert dict(shown.params) == {"filter": "metrics.val/auc > 0.9", "cols": "name"}
    assert pipeline.rows(
        "SELECT count() FROM saved_views FINAL WHERE view_id = {v:String}", v=team_view
    ) == [(1,)]

    # The owner sees both; a teammate only the team view; another team neither.
    assert {v.name for v in list_views(client, owner)} == {"Best AUC", "Mine"}
    assert get_view(client, owner, personal_view).params == {"sort": "name asc"}
    with pytest.raises(NotFoundError, match="not visible to you"):
        get_view(client, TEAMMATE, personal_view)
    assert list_views(client, OUTSIDER) == ()
    for view_id in (team_view, personal_view):
        with pytest.raises(NotFoundError, match="not visible to you"):
            get_view(client, OUTSIDER, view_id)

    # Shared with the outsider (W6 on a view): visible to them, by link and in their list.
    share = sample_event("resource_shared", team=TEAM)
    share.envelope.aggregate_kind = envelope_pb2.AGGREGATE_KIND_VIEW
    share.envelope.aggregate_id = team_view
    share.envelope.event_id = new_uuid7()
    share.resource_shared.grantee.id = OUTSIDER.user_id
    append(pipeline, share)
    wait_for(lambda: list_views(client, OUTSIDER), "the shared view for the grantee")
    assert get_view(client, OUTSIDER, team_view).name == "Best AUC"

    # Saved again under a new name: still one view, the latest state, the first owner.
    append(pipeline, saved(team_view, "Best AUC (val)", "team", cols="name,status"))
    renamed = wait_for(
        lambda: [v for v in list_views(client, TEAMMATE) if v.name == "Best AUC (val)"],
        "the renamed view",
    )
    assert [(v.view_id, v.owner) for v in renamed] == [(team_view, owner.user_id)]

    # Deleted: gone for everyone, the grantee included.
    deleted = sample_event("view_deleted", team=TEAM)
    deleted.envelope.aggregate_id = team_view
    deleted.envelope.event_id = new_uuid7()
    append(pipeline, deleted)
    wait_for(lambda: not list_views(client, OUTSIDER), "the deletion")
    assert [v.name for v in list_views(client, owner)] == ["Mine"]


def test_a_persons_default_columns_are_theirs_alone(pipeline: Pipeline) -> None:
    client = pipeline.client()
    default = view_saved_event(
        new_uuid7(),
        team=TEAM,
        person="",
        name="Default columns",
        params={"cols": "name,metrics.loss"},
        visibility="personal",
        user_default=True,
    )
    append(pipeline, default)
    found = wait_for(
        lambda: (
            client.query(
                "SELECT owner FROM saved_views_current WHERE view_id = {v:String}",
                parameters={"v": default.envelope.aggregate_id},
            ).result_rows
        ),
        "the default view",
    )
    owner = Caller(found[0][0], frozenset({TEAM}))
    mine = user_default(client, owner)
    assert mine is not None
    assert mine.params == {"cols": "name,metrics.loss"}
    assert user_default(client, TEAMMATE) is None
    assert all(not v.user_default for v in list_views(client, owner))  # not in the picker
