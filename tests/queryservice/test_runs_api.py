"""``cairn.Api`` over the real query service: GetRun, SearchRuns (filter, sort, paging), errors
with their codes, and what a key may see (its team's runs, plus what another team shared)."""

from __future__ import annotations

import time

import grpc
import pandas as pd
import pytest

import cairn
from cairn._query_client import QueryClient
from cairn_contract.ids import new_uuid7
from cairn_contract.v1 import collaboration_pb2, envelope_pb2, events_pb2, query_pb2, query_pb2_grpc
from tests.pipeline import TEAM
from tests.queryservice.world import LRS, OTHER_TEAM, PROJECT, SECRET_PROJECT, STEPS, World

pytestmark = pytest.mark.integration


def test_get_run_returns_typed_params_tags_summary_and_provenance(world: World) -> None:
    with world.api() as api:
        run = api.run(world.runs[1])
    assert run.id == world.runs[1]
    assert (run.team, run.project, run.name, run.status) == (TEAM, PROJECT, "lr-0.01", "finished")
    assert run.params == {"layers": 3, "lr": 0.01, "optimizer": "adam"}
    assert run.tags == {"index": "1", "stage": "tuning"}
    assert run.summary == {"acc": (STEPS - 1) / STEPS, "loss": pytest.approx(0.1 / STEPS)}
    assert run.metrics["loss"]["count"] == STEPS
    assert run.metrics["loss"]["max"] == pytest.approx(0.1)
    assert [d.name for d in run.datasets] == ["train"]
    assert run.command_line, "the command line was captured"
    assert run.environment is not None
    assert run.environment.python_version.startswith("3.")
    assert run.code is None  # git capture was off
    assert run.info["created_at"] is not None
    assert run.info["finished_at"] is not None


def test_runs_frame_has_the_documented_columns_filtered_and_sorted(world: World) -> None:
    with world.api() as api:
        df = api.runs(project=PROJECT, filter="params.lr < 0.05", order_by="params.lr asc")
    assert list(df.columns[:8]) == [
        "run_id",
        "name",
        "project",
        "team",
        "status",
        "owner",
        "created_at",
        "finished_at",
    ]
    assert list(df.columns[8:]) == [
        "params.layers",
        "params.lr",
        "params.optimizer",
        "metrics.acc",
        "metrics.loss",
        "tags.index",
        "tags.stage",
    ]
    assert list(df["run_id"]) == [world.runs[2], world.runs[1]]
    assert list(df["params.lr"]) == [0.001, 0.01]
    assert isinstance(df["created_at"].dtype, pd.DatetimeTZDtype)
    assert set(df["project"]) == {PROJECT}


def test_runs_with_a_metric_filter_and_limit(world: World) -> None:
    with world.api() as api:
        df = api.runs(filter="metrics.loss < 0.04", order_by="metrics.loss desc", limit=1)
    assert list(df["run_id"]) == [world.runs[1]]  # loss last 0.005 and 0.0005; the larger first


def test_search_pages_with_a_cursor_and_no_total_cap(world: World) -> None:
    client = QueryClient(world.settings(world.vision_key))
    try:
        request = query_pb2.SearchRunsRequest(project=PROJECT, order_by="created", page_size=1)
        seen: list[str] = []
        while True:
            reply = client.call("SearchRuns", request)
            seen += [row.info.run_id for row in reply.runs]
            if not reply.next_page_token:
                break
            request.page_token = reply.next_page_token
        assert seen == list(world.runs)
        other = query_pb2.SearchRunsRequest(
            project=PROJECT, order_by="name", page_size=1, page_token=reply.next_page_token or "x"
        )
        with pytest.raises(cairn.ValidationError) as caught:
            client.call("SearchRuns", other)
        assert caught.value.field == "page_token"
    finally:
        client.close()


def test_a_bad_filter_is_invalid_argument_pointing_at_the_character(world: World) -> None:
    with world.api() as api, pytest.raises(cairn.ValidationError) as caught:
        api.runs(filter="params.lr < 0.1 and and")
    assert caught.value.code is cairn.ErrorCode.INVALID_ARGUMENT
    assert "^" in caught.value.message  # the filter is shown with a caret under the character
    assert caught.value.field == "filter"


def test_the_grpc_status_of_a_bad_filter_is_invalid_argument(world: World) -> None:
    with grpc.insecure_channel(world.pipeline.ingest.address) as channel:
        stub = query_pb2_grpc.QueryStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.SearchRuns(
                query_pb2.SearchRunsRequest(filter="status = "),
                metadata=(("authorization", f"Bearer {world.vision_key}"),),
            )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_an_unknown_key_is_unauthenticated(world: World) -> None:
    with world.api(key="cairn_000000000000_nope") as api, pytest.raises(cairn.CairnError) as caught:
        api.run(world.runs[0])
    assert caught.value.code is cairn.ErrorCode.UNAUTHENTICATED


def _visible_ids(api: cairn.Api) -> set[str]:
    return {row.info.run_id for row in api.search()}


def _share_run(world: World, run_id: str, grantee_team: str) -> None:
    """Team risk shares one of its runs with another team, as the portal's Share action does."""
    with world.api(world.risk_key, OTHER_TEAM) as risk:
        info = risk.run(run_id).message.info
    event = events_pb2.Event(
        envelope=envelope_pb2.Envelope(
            event_id=new_uuid7(),
            schema_version=1,
            aggregate_kind=envelope_pb2.AGGREGATE_KIND_RUN,
            aggregate_id=run_id,
            sequence=info.last_sequence + 1,
            occurred_at_ns=time.time_ns(),
            team=info.team,
            project=info.project,
        )
    )
    event.resource_shared.grantee.kind = collaboration_pb2.PRINCIPAL_KIND_TEAM
    event.resource_shared.grantee.id = grantee_team
    event.resource_shared.access = collaboration_pb2.ACCESS_LEVEL_VIEW
    client = QueryClient(world.settings(world.risk_key, OTHER_TEAM))
    try:
        client.append([event])
    finally:
        client.close()


def test_a_key_sees_its_team_and_what_was_shared_never_another_team(world: World) -> None:
    with world.api() as vision, world.api(world.risk_key, OTHER_TEAM) as risk:
        assert _visible_ids(vision) == set(world.runs)
        assert _visible_ids(risk) == {world.secret_run}
        with pytest.raises(cairn.NotFoundError):
            vision.run(world.secret_run)
        with pytest.raises(cairn.NotFoundError):
            risk.run(world.runs[0])
        assert vision.runs(project=SECRET_PROJECT).empty

        _share_run(world, world.secret_run, TEAM)
        deadline = time.monotonic() + 30
        while world.secret_run not in _visible_ids(vision):
            assert time.monotonic() < deadline, "the shared project never became visible"
            time.sleep(0.3)
        assert vision.run(world.secret_run).params["lr"] == 0.5
        assert _visible_ids(risk) == {world.secret_run}  # sharing is one way


def test_lrs_are_what_the_world_logged(world: World) -> None:
    with world.api() as api:
        assert sorted(api.run(r).params["lr"] for r in world.runs) == sorted(LRS)
