"""query.run_search.find_runs in the real engine: every visible run is searched, never a page.

The store holds 2,100 runs of team ``risk`` (the target, ``xgb-lr0.1-d6``, is the oldest, older
than 2,099 newer runs, as in issue #18 where pickers listed only the newest 200/500) and some of
team ``vision``, whose runs must never match for a risk member, even when their name, tag or
param is exactly the text; plus a vision run shared with alice, which must.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from cairn.v1 import collaboration_pb2, events_pb2, runs_pb2
from cairn_contract.errors import ValidationError
from domain.projections import LogPosition, Projection
from processors.projection_writer import ProjectionWriter
from query.access import Caller
from query.client import connect
from query.migrations import apply_migrations
from query.reporting_schema import reporting_database
from query.run_search import MAX_SHOWN, MAX_TEXT, find_runs
from tests.builders import event
from tests.integration.conftest_clickhouse import ClickHouseEndpoint
from tests.query.integration.world import ns

pytestmark = pytest.mark.integration

ALICE = Caller("alice", frozenset({"risk"}))
CAROL = Caller("carol", frozenset({"vision"}))
ADMIN = Caller("root", frozenset(), admin=True)
BULK = 2_100
START = datetime(2026, 1, 1, tzinfo=UTC)
TARGET = "run-target"
SECRET = "run-vision-secret"
SHARED = "run-vision-shared"


def _param(key: str, value: Any) -> runs_pb2.Param:
    if isinstance(value, float):
        return runs_pb2.Param(key=key, value=runs_pb2.ParamValue(double_value=value))
    return runs_pb2.Param(key=key, value=runs_pb2.ParamValue(string_value=str(value)))


def _events() -> list[events_pb2.Event]:
    seq: dict[str, itertools.count[int]] = {}
    out: list[events_pb2.Event] = []

    def add(run_id: str, team: str, project: str, field: str, payload: Any, at: datetime) -> None:
        counter = seq.setdefault(run_id, itertools.count(1))
        out.append(
            event(field, payload, run_id=run_id, sequence=next(counter), team=team,
                  project=project, actor="alice", occurred_at_ns=ns(at),
                  event_id=str(uuid.uuid4()))
        )  # fmt: skip

    def run(run_id: str, team: str, name: str, at: datetime, params: dict[str, Any],
            tags: dict[str, str]) -> None:  # fmt: skip
        project = "churn" if team == "risk" else "detector"
        add(run_id, team, project, "run_created", runs_pb2.RunCreated(name=name, owner="x"), at)
        add(run_id, team, project, "params_set",
            runs_pb2.ParamsSet(params=[_param(k, v) for k, v in params.items()]), at)  # fmt: skip
        if tags:
            tags_set = runs_pb2.TagsSet(
                tags=[runs_pb2.Tag(key=k, value=v) for k, v in tags.items()]
            )
            add(run_id, team, project, "tags_set", tags_set, at)

    run(TARGET, "risk", "xgb-lr0.1-d6", START, {"lr": 0.1, "booster": "dart-gbtree"},
        {"stage": "production"})  # fmt: skip
    for i in range(1, BULK):
        at = START + timedelta(minutes=i)
        run(f"run-bulk-{i:05d}", "risk", f"sweep-trial-{i}", at, {"lr": 0.01, "booster": "gbtree"},
            {"stage": "tuning"} if i % 2 else {})  # fmt: skip
    # A bulk run whose tag is removed: it must no longer match by that tag.
    removed = runs_pb2.TagsRemoved(keys=["stage"])
    add("run-bulk-00001", "risk", "churn", "tags_removed", removed, START + timedelta(days=9))
    # Vision: the same name, tag and param as the target, never visible to alice ...
    run(SECRET, "vision", "xgb-lr0.1-d6 vision copy", START + timedelta(days=10),
        {"booster": "dart-gbtree"}, {"stage": "production"})  # fmt: skip
    # ... except this one, shared with her.
    run(SHARED, "vision", "shared-detector", START + timedelta(days=11), {"booster": "x"}, {})
    share = collaboration_pb2.ResourceShared(
        grantee=collaboration_pb2.Principal(kind=collaboration_pb2.PRINCIPAL_KIND_USER, id="alice"),
        access=collaboration_pb2.ACCESS_LEVEL_VIEW,
    )
    add(SHARED, "vision", "detector", "resource_shared", share, START + timedelta(days=12))
    return out


@pytest.fixture(scope="module")
def store(clickhouse_endpoint: ClickHouseEndpoint) -> Iterator[Client]:
    database = f"f_{uuid.uuid4().hex[:10]}"
    admin = connect(f"{clickhouse_endpoint.url}/default")
    apply_migrations(admin, database)
    projection = Projection()
    for offset, ev in enumerate(_events()):
        projection.add(ev.SerializeToString(), LogPosition("test.events", 0, offset))
    ProjectionWriter(lambda: connect(f"{clickhouse_endpoint.url}/default"), database).write(
        projection
    )
    yield connect(f"{clickhouse_endpoint.url}/{database}")
    for db in (database, reporting_database(database)):
        admin.command(f"DROP DATABASE IF EXISTS `{db}` SYNC")


def _ids(client: Client, caller: Caller, text: str, **kw: Any) -> list[str]:
    return [m.run_id for m in find_runs(client, caller, text, **kw).runs]


def test_an_old_run_behind_two_thousand_newer_ones_is_found_by_part_of_its_name(
    store: Client,
) -> None:
    newest = _ids(store, ALICE, "", limit=MAX_SHOWN)
    assert TARGET not in newest  # the old pickers' view: only the newest runs
    found = find_runs(store, ALICE, "LR0.1-d", limit=5)
    assert [m.run_id for m in found.runs] == [TARGET]
    assert found.total == 1
    assert found.runs[0].name == "xgb-lr0.1-d6"
    assert found.runs[0].matched == "name"


def test_a_run_is_found_by_id_prefix_tag_and_param_value(store: Client) -> None:
    assert _ids(store, ALICE, "run-targ") == [TARGET]
    assert _ids(store, ALICE, TARGET) == [TARGET]
    by_tag = find_runs(store, ALICE, "producti")
    assert [m.run_id for m in by_tag.runs] == [TARGET]
    assert by_tag.runs[0].matched == "tag stage=production"
    by_param = find_runs(store, ALICE, "dart")
    assert [m.run_id for m in by_param.runs] == [TARGET]
    assert by_param.runs[0].matched == "param booster=dart-gbtree"
    assert _ids(store, ALICE, "booster=dart") == [TARGET]
    # a param's key alone matches nothing (it would match every run)
    assert _ids(store, ALICE, "booster") == []


def test_limit_is_what_is_shown_and_total_counts_every_match(store: Client) -> None:
    found = find_runs(store, ALICE, "sweep-trial", limit=10)
    assert len(found.runs) == 10
    assert found.total == BULK - 1
    # newest first among equally good matches
    assert found.runs[0].run_id == f"run-bulk-{BULK - 1:05d}"
    created = [m.created for m in found.runs]
    assert created == sorted(created, reverse=True)


def test_an_exact_name_or_id_ranks_before_newer_partial_matches(store: Client) -> None:
    # "sweep-trial-1" is exactly one run's name and part of a hundred newer ones
    found = find_runs(store, ALICE, "SWEEP-TRIAL-1", limit=3)
    assert found.runs[0].run_id == "run-bulk-00001"
    second = found.runs[1].created
    assert second is not None
    assert second > START + timedelta(minutes=1)  # newer than the exact match, yet after it
    assert _ids(store, ALICE, "run-bulk-00010", limit=1) == ["run-bulk-00010"]


def test_another_teams_run_never_matches_unless_shared(store: Client) -> None:
    for text in ("xgb-lr0.1-d6", "vision copy", SECRET, "production", "dart-gbtree", ""):
        assert SECRET not in _ids(store, ALICE, text, limit=MAX_SHOWN), text
    assert SECRET in _ids(store, CAROL, "xgb-lr0.1-d6")
    assert TARGET not in _ids(store, CAROL, "xgb-lr0.1-d6")
    assert _ids(store, ALICE, "shared-det") == [SHARED]
    assert set(_ids(store, ADMIN, "xgb-lr0.1-d6")) == {TARGET, SECRET}
    assert find_runs(store, Caller("mallory", frozenset({"elsewhere"})), "").total == 0


def test_teams_and_project_narrow_the_search(store: Client) -> None:
    # what alice may share: her team's runs, not the run shared with her
    assert _ids(store, ALICE, "shared-det", teams={"risk"}) == []
    assert _ids(store, ADMIN, "xgb", teams={"vision"}) == [SECRET]
    assert _ids(store, ADMIN, "xgb", project=("risk", "churn")) == [TARGET]


def test_a_removed_tag_no_longer_matches(store: Client) -> None:
    tuning = find_runs(store, ALICE, "stage=tuning", limit=MAX_SHOWN)
    assert tuning.total == BULK // 2 - 1  # the odd bulk runs but run-bulk-00001, whose tag went
    assert find_runs(store, ALICE, "run-bulk-00001").total == 1  # the run itself still there
    assert "run-bulk-00001" not in [m.run_id for m in tuning.runs]


def test_bad_input_names_the_field_and_rule(store: Client) -> None:
    with pytest.raises(ValidationError) as long_text:
        find_runs(store, ALICE, "x" * (MAX_TEXT + 1))
    assert (long_text.value.field, long_text.value.rule) == ("text", "max_length")
    with pytest.raises(ValidationError) as bad_limit:
        find_runs(store, ALICE, "x", limit=0)
    assert (bad_limit.value.field, bad_limit.value.rule) == ("limit", "range")
