"""Saved views without infrastructure: the portal's events pass validation, ownership keeps a
view with its team (W23), the projection's rows, and who may delete or share (P9)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from cairn_contract.errors import ValidationError
from cairn_contract.ids import new_uuid7
from cairn_contract.v1 import events_pb2
from domain.ownership import AggregateOwners, Refusal, check_batch
from domain.projections import LogPosition, Projection
from domain.validation import BatchValidator
from query.saved_views import SavedView
from tests.event_samples import batch_of
from ui.saved_views import check_name, may_manage, view_deleted_event, view_saved_event

NOW = datetime(2026, 12, 7, tzinfo=UTC)


def _saved(view_id: str, team: str = "risk", **changes: Any) -> events_pb2.Event:
    values: dict[str, Any] = {
        "team": team,
        "person": "alice",
        "name": "Best AUC",
        "params": {"filter": "metrics.val/auc > 0.9", "cols": "name,status", "view": "x"},
        "visibility": "team",
    } | changes
    return view_saved_event(view_id, **values)


def _view(owner: str = "alice", team: str = "risk") -> SavedView:
    return SavedView(
        new_uuid7(), team, "", "v", "runs", 1, {}, "team", False, owner, owner, NOW, NOW
    )


def test_the_portals_view_events_are_valid_and_keep_the_pages_parameters() -> None:
    view_id = new_uuid7()
    saved = _saved(view_id)
    deleted = view_deleted_event(_view(), "alice")
    BatchValidator().check(batch_of(saved, deleted), now_ns=time.time_ns())
    params = {p.name: p.value for p in saved.view_saved.params}
    assert params == {"cols": "name,status", "filter": "metrics.val/auc > 0.9"}  # not `view`
    assert saved.envelope.actor.on_behalf_of == "alice"


def test_a_view_belongs_to_the_team_that_saved_it_first() -> None:
    owners = AggregateOwners()
    view_id = new_uuid7()
    claims, refused = check_batch([_saved(view_id, "risk")], owners)
    assert refused is None
    owners.apply_all(claims)
    for foreign in (_saved(view_id, "vision"), _saved(view_id, "vision", name="Mine")):
        _, refused = check_batch([foreign], owners)
        assert refused is not None
        assert refused[1].refusal is Refusal.FOREIGN
    _, again = check_batch([_saved(view_id, "risk", name="Renamed")], owners)
    assert again is None


def test_saves_and_deletions_project_one_row_each_with_the_state() -> None:
    projection = Projection()
    saved = _saved(new_uuid7())
    projection.add(saved.SerializeToString(), LogPosition("events", 0, 1))
    projection.add(saved.SerializeToString(), LogPosition("events", 0, 1))  # redelivered
    buffer = projection.buffers["saved_views"]
    columns = dict(zip(buffer.schema.column_names, buffer.columns(), strict=True))
    assert buffer.rows == 2
    assert len(set(columns["event_id"])) == 1
    assert list(columns["visibility"]) == ["team", "team"]
    assert list(columns["actor"]) == ["alice", "alice"]
    assert columns["params"][0] == {"cols": "name,status", "filter": "metrics.val/auc > 0.9"}


def test_only_the_owner_a_team_admin_or_a_portal_admin_manages_a_view() -> None:
    view = _view(owner="bob")
    assert may_manage(view, "bob", False, frozenset())
    assert may_manage(view, "alice", False, frozenset({"alice"}))
    assert may_manage(view, "root", True, frozenset())
    assert not may_manage(view, "dave", False, frozenset({"alice"}))


def test_a_view_needs_a_name_of_at_most_256_characters() -> None:
    assert check_name("  best   auc ") == "best auc"
    for name, rule in (("   ", "required"), ("x" * 257, "max_length")):
        with pytest.raises(ValidationError) as caught:
            check_name(name)
        assert (caught.value.field, caught.value.rule) == ("name", rule)
