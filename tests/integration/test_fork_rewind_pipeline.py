"""Forks and rewinds through the real stack: ``cairn.init(fork_from=, fork_step=)`` and
``cairn.init(resume=, rewind_to=)`` → ingest → Kafka → processors → ClickHouse, read back through
``cairn.Api`` (the query service), ``query/`` (charts, summaries, branches, earlier attempts) and
SQL on the reporting views, and again after ``cairn replay`` rebuilt every table from the log."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

import cairn
from cairn.errors import NotFoundError, ValidationError
from processors.replay import replay
from query.branches import earlier_attempts, run_branches
from query.rebuild import previous_name
from query.reporting_schema import reporting_database
from query.series import metric_series
from tests.pipeline import Pipeline  # the fixture itself is registered by tests/conftest.py

pytestmark = pytest.mark.integration

PARENT_STEPS = 20
FORK_STEP = 9


def _wait_points(pipeline: Pipeline, run_id: str, count: int, timeout: float = 60.0) -> None:
    """Until the run is finished with ``count`` points (a batch's tables land one by one)."""
    sql = (
        "SELECT count() FROM metric_points WHERE run_id = {r:String}"
        " AND run_id IN (SELECT run_id FROM runs WHERE status = 'finished')"
    )
    deadline = time.monotonic() + timeout
    while pipeline.rows(sql, r=run_id) != [(count,)]:
        assert time.monotonic() < deadline, (
            f"{run_id}: {pipeline.rows(sql, r=run_id)} points, not {count}, within {timeout}s"
        )
        time.sleep(0.3)


def _history(run_id: str, key: str = "loss") -> list[tuple[int, float]]:
    with cairn.Api() as api:
        frame = api.histories([run_id], [key])
    return [(int(s), float(v)) for s, v in zip(frame["step"], frame["value"], strict=True)]


def _parent(pipeline: Pipeline, project: str) -> str:
    with cairn.init(name="parent", config={"lr": 0.1, "batch": 32}) as run:
        for step in range(PARENT_STEPS):
            run.log({"loss": 100.0 - step, "acc": step / 100}, step=step)
    _wait_points(pipeline, run.id, 2 * PARENT_STEPS)
    return run.id


def test_a_fork_reads_the_parents_first_points_plus_its_own_and_forks_of_forks_work(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = "forks"
    pipeline.configure(monkeypatch, tmp_path, project)
    parent = _parent(pipeline, project)

    with cairn.init(
        name="fork", config={"lr": 0.01}, fork_from=parent, fork_step=FORK_STEP
    ) as fork:
        for _ in range(5):
            fork.log({"loss": -1.0})  # auto steps continue after the fork step
    _wait_points(pipeline, fork.id, 2 * (FORK_STEP + 1) + 5)

    inherited = [(s, 100.0 - s) for s in range(FORK_STEP + 1)]
    own = [(s, -1.0) for s in range(FORK_STEP + 1, FORK_STEP + 6)]
    assert _history(fork.id) == inherited + own
    assert _history(fork.id, "acc") == [(s, s / 100) for s in range(FORK_STEP + 1)]
    assert _history(parent) == [(s, 100.0 - s) for s in range(PARENT_STEPS)]  # untouched

    with cairn.Api() as api:
        info = api.run(fork.id)
        assert info.params == {"lr": 0.01, "batch": 32}  # the parent's, overridden by config
        assert info.metrics["loss"] == {
            "last": -1.0,
            "min": -1.0,
            "max": 100.0,
            "last_step": FORK_STEP + 5,
            "count": FORK_STEP + 6,
        }
        edges = api.lineage(fork.id).edges
        forked = [e for e in edges if e.relation == "forked_from"]
        assert [e.target.id for e in forked] == [parent]

    reporting = reporting_database(pipeline.client().database)
    assert pipeline.rows(
        f"SELECT count(), min(step), max(step), sum(value) FROM `{reporting}`.metrics"
        " WHERE run_id = {r:String} AND key = 'loss'",
        r=fork.id,
    ) == [(FORK_STEP + 6, 0, FORK_STEP + 5, sum(v for _, v in inherited + own))]

    # A fork of the fork, at a step of the fork's own: grandparent's points, the fork's, its own.
    weights = tmp_path / "model.bin"
    weights.write_bytes(b"fine-tuned weights")
    with cairn.init(name="fork-of-fork", fork_from=fork.id, fork_step=FORK_STEP + 2) as grand:
        grand.log({"loss": 7.0})
        grand.log_model(weights, "forked-model")
    _wait_points(pipeline, grand.id, (FORK_STEP + 1) + (FORK_STEP + 4))
    assert _history(grand.id) == inherited + own[:2] + [(FORK_STEP + 3, 7.0)]

    with cairn.Api() as api:  # lineage walks the whole fork chain (the provenance report's)
        graph = api.lineage(grand.id, "upstream", depth=5)
    assert {fork.id, parent} <= {n.id for n in graph.nodes}
    assert {n.name for n in graph.nodes if n.id in (fork.id, parent)} == {""}  # a step is no name
    tree = run_branches(pipeline.client(), pipeline.caller, grand.id)
    assert [(f.run_id, f.parent_run_id, f.step) for f in tree.ancestors] == [
        (grand.id, fork.id, FORK_STEP + 2),
        (fork.id, parent, FORK_STEP),
    ]
    assert [
        f.run_id for f in run_branches(pipeline.client(), pipeline.caller, parent).children
    ] == [fork.id]

    # The provenance report of a model the fork of a fork built shows the whole chain.
    report = cairn.model_report("forked-model:1")
    chain = report.split("Fork chain", 1)[1]
    assert f"| fork-of-fork (`{grand.id}`) | fork (`{fork.id}`) | {FORK_STEP + 2} |" in chain
    assert f"| fork (`{fork.id}`) | parent (`{parent}`) | {FORK_STEP} |" in chain


def test_a_fork_needs_a_parent_the_caller_can_read(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline.configure(monkeypatch, tmp_path, "forks-refused")
    missing = "01890000-0000-7000-8000-000000000000"
    with pytest.raises(NotFoundError):
        cairn.init(name="orphan", fork_from=missing, fork_step=3)
    assert pipeline.rows("SELECT count() FROM runs WHERE project = 'forks-refused'") == [
        (0,)
    ]  # nothing was recorded


def _rewound_run(pipeline: Pipeline) -> str:
    with cairn.init(name="diverged") as run:
        for step in range(PARENT_STEPS):
            run.log({"loss": float(step) if step <= FORK_STEP else 1000.0 + step}, step=step)
    _wait_points(pipeline, run.id, PARENT_STEPS)
    with cairn.init(resume=run.id, rewind_to=FORK_STEP) as again:
        for _ in range(5):
            again.log({"loss": 0.5})  # continues at FORK_STEP + 1
    _wait_points(pipeline, run.id, FORK_STEP + 6)
    return run.id


def _state(pipeline: Pipeline, run_id: str) -> dict[str, Any]:
    client = pipeline.client()
    reporting = reporting_database(client.database)
    chart = metric_series(client, pipeline.caller, [run_id], ["loss"], max_points=1000)
    attempts = earlier_attempts(client, pipeline.caller, run_id)
    return {
        "history": _history(run_id),
        "chart": [(int(s), float(v)) for s, v in zip(chart["step"], chart["value"], strict=True)],
        "sql": pipeline.rows(
            f"SELECT step, value FROM `{reporting}`.metrics WHERE run_id = {{r:String}}"
            " ORDER BY step",
            r=run_id,
        ),
        "summary": pipeline.rows(
            f"SELECT last_value, min_value, max_value, last_step, point_count"
            f" FROM `{reporting}`.metric_summaries WHERE run_id = {{r:String}}",
            r=run_id,
        ),
        "runs": pipeline.rows(
            "SELECT metrics_last, metrics_max, metrics_count FROM runs WHERE run_id = {r:String}",
            r=run_id,
        ),
        "attempts": [
            (int(a), int(s), float(v))
            for a, s, v in zip(
                attempts["attempt"], attempts["step"], attempts["value"], strict=True
            )
        ],
        "rewinds": [r.to_step for r in run_branches(client, pipeline.caller, run_id).rewinds],
    }


def test_a_rewind_hides_the_abandoned_points_and_replay_rebuilds_the_same_state(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline.configure(monkeypatch, tmp_path, "rewinds")
    run_id = _rewound_run(pipeline)
    current = [(s, float(s)) for s in range(FORK_STEP + 1)]
    current += [(s, 0.5) for s in range(FORK_STEP + 1, FORK_STEP + 6)]

    before = _state(pipeline, run_id)
    assert before["history"] == current
    assert before["chart"] == current
    assert before["sql"] == current
    assert before["summary"] == [(0.5, 0.0, 9.0, FORK_STEP + 5, FORK_STEP + 6)]
    assert before["runs"] == [
        ({"loss": 0.5}, {"loss": 9.0}, {"loss": FORK_STEP + 6})
    ]  # the abandoned 1010..1019 are in no summary
    assert before["attempts"] == [
        (1, s, 1000.0 + s) for s in range(FORK_STEP + 1, PARENT_STEPS)
    ]  # every abandoned point, also the steps the new branch logged again
    assert before["rewinds"] == [FORK_STEP]
    with cairn.Api() as api:
        assert api.run(run_id).metrics["loss"]["max"] == 9.0

    client = pipeline.client()
    pipeline.worker.stop()  # replay runs with the processors stopped, as documented
    try:
        result = asyncio.run(
            replay(
                pipeline.stack.bootstrap,
                (pipeline.stack.events_topic, pipeline.stack.identity_topic),
                pipeline.client,
                client.database,
            )
        )
    finally:
        pipeline.worker.start()
        client.command(f"DROP DATABASE IF EXISTS `{previous_name(client.database)}` SYNC")
    assert result.poison == 0
    assert _state(pipeline, run_id) == before


def test_rewinding_needs_a_resumed_run(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline.configure(monkeypatch, tmp_path, "rewinds-refused")
    with pytest.raises(ValidationError) as refused:
        cairn.init(name="x", rewind_to=3)
    assert (refused.value.field, refused.value.rule) == ("rewind_to", "rewind_needs_resume")
