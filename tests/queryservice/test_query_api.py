"""``cairn.Api`` over the real query service: GetRun, SearchRuns (filter, sort, paging), errors
with their codes, and what a key may see (its team's runs, plus what another team shared)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import grpc
import pandas as pd
import pyarrow.parquet as pq
import pytest

import cairn
from cairn._query_client import QueryClient
from cairn_contract.ids import new_uuid7
from cairn_contract.v1 import collaboration_pb2, envelope_pb2, events_pb2, query_pb2, query_pb2_grpc
from query.runs import search_runs
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


def test_history_every_point_and_downsampled_with_min_max_last(world: World) -> None:
    with world.api() as api:
        run = api.run(world.runs[0])
        every = run.history(keys=["loss"])
        assert list(every.columns) == ["run_id", "key", "step", "timestamp", "value"]
        assert list(every["step"]) == list(range(STEPS))
        assert list(every["value"]) == pytest.approx([1.0 / (s + 1) for s in range(STEPS)])
        assert str(every["timestamp"].dtype) == "datetime64[ns, UTC]"

        sampled = api.histories(list(world.runs), ["loss", "acc"], samples=4)
        assert list(sampled.columns) == [
            "run_id",
            "key",
            "step",
            "timestamp",
            "value",
            "min",
            "max",
            "count",
        ]
        one = sampled[(sampled.run_id == world.runs[0]) & (sampled.key == "loss")]
        assert list(one["step"]) == [4, 9, 14, 19]  # the last step of each bucket of 5
        assert list(one["count"]) == [5, 5, 5, 5]
        assert list(one["max"]) == pytest.approx([1.0, 1 / 6, 1 / 11, 1 / 16])
        assert list(one["min"]) == pytest.approx([1 / 5, 1 / 10, 1 / 15, 1 / 20])
        assert list(one["value"]) == list(one["min"])  # loss falls: the last is the lowest
        assert set(sampled["run_id"]) == set(world.runs)

        hidden = api.histories([world.secret_run], ["loss"])  # never shared with vision here
        shared = world.secret_run in {r.info.run_id for r in api.search()}
        assert hidden.empty != shared


def test_scan_history_streams_every_point_as_dicts(world: World) -> None:
    with world.api() as api:
        points = list(api.run(world.runs[0]).scan_history(keys="loss"))
        both = list(api.scan_histories(list(world.runs[:2]), ["loss", "acc"]))
    assert [p["step"] for p in points] == list(range(STEPS))
    assert [p["value"] for p in points] == pytest.approx([1.0 / (s + 1) for s in range(STEPS)])
    assert {p["key"] for p in points} == {"loss"}
    assert points[0]["timestamp"].tzinfo is not None
    assert len(both) == 2 * 2 * STEPS


def test_compare_puts_runs_side_by_side(world: World) -> None:
    with world.api() as api:
        table = api.compare(list(world.runs))
    assert list(table.columns) == list(world.runs)
    assert list(table.loc["params.lr"]) == ["0.1", "0.01", "0.001"]
    assert table.loc["metrics.loss"].tolist() == pytest.approx([lr * 10 / STEPS for lr in LRS])
    assert "lr" in table.attrs["params_differing"]
    assert table.attrs["same_datasets"] is True


def test_diff_names_what_changed(world: World) -> None:
    with world.api() as api:
        found = api.diff(world.runs[0], world.runs[1])
    assert ("lr", "0.1", "0.01") in found.params
    assert ("optimizer", "sgd", "adam") in found.params
    assert found.datasets == []  # the same file
    report = str(found)
    assert "lr: 0.1 -> 0.01" in report


def test_compare_and_diff_refuse_a_run_the_key_may_not_see(world: World) -> None:
    with world.api(world.risk_key, OTHER_TEAM) as risk:
        with pytest.raises(cairn.NotFoundError):
            risk.compare([world.secret_run, world.runs[0]])
        with pytest.raises(cairn.NotFoundError):
            risk.diff(world.secret_run, world.runs[0])


def test_export_writes_every_point_to_parquet(world: World, tmp_path: Path) -> None:
    seen: list[tuple[str, int, int]] = []
    with world.api() as api:
        counts = api.export(tmp_path / "out", project=PROJECT, progress=lambda *a: seen.append(a))
    assert counts == {"runs": 3, "params": 9, "tags": 6, "metrics": 3 * STEPS * 2}
    runs = pq.read_table(tmp_path / "out" / "runs.parquet").to_pandas()
    assert sorted(runs["run_id"]) == sorted(world.runs)
    points = pq.read_table(tmp_path / "out" / "metrics.parquet").to_pandas()
    assert len(points) == 3 * STEPS * 2
    assert list(points.columns) == ["run_id", "key", "step", "timestamp", "value"]
    assert seen[-1][2] == 3  # progress knows the total number of runs


def test_export_to_csv_and_json_and_nothing_for_another_team(world: World, tmp_path: Path) -> None:
    with world.api(world.risk_key, OTHER_TEAM) as risk:
        counts = risk.export(tmp_path / "csv", project=PROJECT, format="csv")
        assert counts["runs"] == 0
        assert counts["metrics"] == 0
        risk.export(tmp_path / "json", project=SECRET_PROJECT, format="json")
    lines = (tmp_path / "json" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == STEPS * 2
    assert (tmp_path / "csv" / "runs.csv").read_text().startswith('"run_id","name"')


def test_lineage_and_comments_of_a_run(world: World) -> None:
    with world.api() as api:
        graph = api.lineage(world.runs[0])
        kinds = {(n.kind, n.name) for n in graph.nodes}
        assert ("dataset", "train") in kinds
        assert [e.relation for e in graph.edges] == ["used"]
        found = api.comments(world.runs[0])
        assert [c.body_markdown for c in found] == ["baseline: too high a learning rate"]
        assert api.comments(world.runs[1]) == []
    with world.api(world.risk_key, OTHER_TEAM) as risk:
        assert risk.comments(world.runs[0]) == []  # another team's discussion stays hidden


def _cli(world: World, *args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")},
        "CAIRN_INGEST_URL": world.pipeline.ingest.address,
        "CAIRN_API_KEY": key or world.vision_key,
        "CAIRN_LOCAL_STACK_FILE": str(world.directory / "no-stack.json"),
    }
    return subprocess.run(
        [sys.executable, "-m", "cairn.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_runs_ls_filters_sorts_and_formats(world: World) -> None:
    listed = _cli(
        world,
        "runs",
        "ls",
        "--project",
        PROJECT,
        "--filter",
        "params.lr < 0.05",
        "--sort",
        "params.lr",
        "--format",
        "csv",
    )
    assert listed.returncode == 0, listed.stderr
    rows = list(csv.DictReader(io.StringIO(listed.stdout)))
    assert [r["run_id"] for r in rows] == [world.runs[2], world.runs[1]]
    assert rows[0]["params.lr"] == "0.001"
    table = _cli(world, "runs", "ls", "--project", PROJECT)
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split()[:4] == ["run_id", "name", "project", "status"]
    assert len(table.stdout.splitlines()) == 4
    as_json = json.loads(_cli(world, "runs", "ls", "--format", "json", "--limit", "1").stdout)
    assert len(as_json) == 1
    bad = _cli(world, "runs", "ls", "--filter", "metrics.loss <")
    assert bad.returncode == 2
    assert "invalid_argument" in bad.stderr


def test_cli_runs_show_compare_and_diff(world: World) -> None:
    shown = _cli(world, "runs", "show", world.runs[0])
    assert shown.returncode == 0, shown.stderr
    assert "  lr = 0.1" in shown.stdout
    assert "dataset: train" in shown.stdout
    compared = _cli(world, "compare", *world.runs)
    assert compared.returncode == 0, compared.stderr
    assert any(line.startswith("params.lr") for line in compared.stdout.splitlines())
    diffed = _cli(world, "diff", world.runs[0], world.runs[1])
    assert diffed.returncode == 0, diffed.stderr
    assert "lr: 0.1 -> 0.01" in diffed.stdout
    hidden = _cli(world, "runs", "show", world.runs[0], key=world.risk_key)
    assert hidden.returncode == 2
    assert "not_found" in hidden.stderr


def test_cli_export_shows_progress_and_writes_files(world: World, tmp_path: Path) -> None:
    out = tmp_path / "export"
    done = _cli(world, "export", "--project", PROJECT, "--format", "parquet", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "3/3 runs" in done.stderr
    assert len(pq.read_table(out / "metrics.parquet")) == 3 * STEPS * 2


def _eventually(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} not seen within {timeout}s"
        time.sleep(0.3)


def test_cli_edits_appear_in_the_api_the_portal_queries_and_sql_with_the_caller_as_actor(
    world: World,
) -> None:
    run_id = world.runs[2]
    edited = _cli(
        world,
        "runs",
        "edit",
        run_id,
        "--name",
        "best-lr",
        "--description",
        "the keeper",
        "--tag",
        "stage=review",
        "--untag",
        "index",
        "--archive",
    )
    assert edited.returncode == 0, edited.stderr
    with world.api() as api:
        run = api.run(run_id)
        _eventually(lambda: run.refresh().archived and run.name == "best-lr", "the edits")
        assert run.tags == {"stage": "review"}
        assert run.description == "the keeper"
        # The portal's query functions see it too.
        client = world.pipeline.client()
        found = search_runs(
            client, world.pipeline.caller, f"run_id = '{run_id}'", columns=["name", "archived"]
        )
        assert found.to_dict("records") == [{"name": "best-lr", "archived": True}]
        # SQL: the event's actor is the key that made the change.
        actors = world.pipeline.rows(
            "SELECT DISTINCT actor FROM events WHERE aggregate_id = {r:String}"
            " AND event_type IN ('run_renamed', 'tags_set', 'run_archived')",
            r=run_id,
        )
        key_id = world.vision_key.split("_")[1]
        assert actors == [(f"writer-{key_id}",)]  # the pipeline's writer key (a service key)
        assert world.pipeline.rows(
            "SELECT name, archived FROM runs WHERE run_id = {r:String}", r=run_id
        ) == [("best-lr", 1)]

        restored = _cli(world, "runs", "edit", run_id, "--restore")
        assert restored.returncode == 0, restored.stderr
        _eventually(lambda: not run.refresh().archived, "the restore")


def test_editing_another_teams_run_is_refused_even_when_shared(world: World) -> None:
    with world.api() as vision:
        shared = vision.run(world.secret_run)  # risk shared it with vision earlier
        with pytest.raises(cairn.CairnError) as caught:
            shared.set_tags({"stage": "stolen"})
    assert caught.value.code is cairn.ErrorCode.PERMISSION_DENIED


def test_reads_fail_over_when_a_query_service_replica_is_killed(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two replicas in ingest_url, the same setting the write path fails over with; the client
    starts at the second one, which is then SIGKILLed: every later read (unary and streaming)
    is answered whole by the survivor, and the client stays there."""
    pipeline = world.pipeline
    second = pipeline.stack.ingest(tmp_path, clickhouse_url=pipeline.url).start()
    try:
        monkeypatch.setattr("cairn._query_client.random.randrange", lambda n: 0)
        settings = world.settings(world.vision_key)
        both = f"{second.address}, grpc://{pipeline.ingest.address}"
        with cairn.Api(settings=replace(settings, ingest_url=both)) as api:
            assert api.address == second.address
            assert sorted(api.runs(project=PROJECT)["run_id"]) == sorted(world.runs)
            assert api.address == second.address  # it answered: no reason to move
            second.kill()
            assert sorted(api.runs(project=PROJECT)["run_id"]) == sorted(world.runs)
            assert api.address == pipeline.ingest.address
            monkeypatch.setattr(api._client, "_current", 0)  # the dead one first again
            run = api.run(world.runs[0])
            monkeypatch.setattr(api._client, "_current", 0)  # and for a streaming call
            history = run.history(keys=["loss"])
            assert list(history["step"]) == list(range(STEPS))
            monkeypatch.setattr(api._client, "_current", 0)
            points = api.histories(list(world.runs), ["loss", "acc"])
            assert len(points) == len(world.runs) * STEPS * 2
            assert api.address == pipeline.ingest.address
    finally:
        second.stop()
