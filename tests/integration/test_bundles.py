"""``cairn export-bundle`` / ``cairn import-bundle`` between two installations (two stacks on free
ports that share no broker, endpoint or data directory): a project written to one (runs, a child,
a fork, points, params, tags, an artifact) and replayed into a second reads the same in every
``cairn_reporting`` view that holds the project (row counts and checksums); importing again adds
nothing; keys of another team may neither export nor import it."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import cairn
from ingest.keys import issue_key_directly
from query.reporting_schema import REPORTING_VIEWS, reporting_database
from tests.integration.conftest_clickhouse import running_endpoint
from tests.integration.conftest_kafka import running_broker
from tests.pipeline import TEAM, Pipeline, open_pipeline

pytestmark = pytest.mark.integration

PROJECT = "bundled"
STEPS = 300


@pytest.fixture(scope="module")
def second(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """A second installation on free ports, sharing nothing with the first: its own Kafka broker,
    ClickHouse endpoint (own data directory), topics, keys, database, ingest and processors."""
    home = tmp_path_factory.mktemp("second")
    with (
        running_broker(home / "kafka") as broker,
        running_endpoint(home / "clickhouse") as endpoint,
        open_pipeline(broker.bootstrap, endpoint, _made(home / "pipeline")) as opened,
    ):
        yield opened


def _made(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _key(p: Pipeline, *, team: str = TEAM, role: str = "writer", user_id: str = "") -> str:
    return asyncio.run(
        issue_key_directly(
            p.stack.bootstrap, team=team, role=role, user_id=user_id, topic=p.stack.identity_topic
        )
    )


def _cli(
    args: list[str], env: dict[str, str], *, ok: bool = True
) -> subprocess.CompletedProcess[str]:
    Path(env["CAIRN_DIR"]).parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "cairn.cli", *args],
        env={**os.environ, **env},
        cwd=Path(env["CAIRN_DIR"]).parent,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert (done.returncode == 0) == ok, (done.stdout, done.stderr)
    return done


def _project_views(p: Pipeline) -> dict[str, tuple[int, int]]:
    """(rows, checksum) of every reporting view with a ``project`` column, for PROJECT only."""
    reporting = reporting_database(p.client().database or "default")
    found = {}
    for view in REPORTING_VIEWS:
        columns = [r[0] for r in p.rows(f"DESCRIBE TABLE `{reporting}`.`{view.name}`")]
        if "project" not in columns:
            continue
        sql = (
            f"SELECT count(), groupBitXor(cityHash64(*)) FROM `{reporting}`.`{view.name}`"
            " WHERE project = {p:String}"
        )
        rows, checksum = p.rows(sql, p=PROJECT)[0]
        found[view.name] = (int(rows), int(checksum))
    return found


def _settled(p: Pipeline, timeout: float = 120.0) -> dict[str, tuple[int, int]]:
    """The views once two reads a few seconds apart agree (the processors are done)."""
    deadline = time.monotonic() + timeout
    last = _project_views(p)
    while time.monotonic() < deadline:
        time.sleep(3.0)
        now = _project_views(p)
        if now == last:
            return now
        last = now
    raise AssertionError(f"the views kept changing for {timeout}s: {last}")


def _write_project(first: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first.configure(monkeypatch, tmp_path / "one", PROJECT)
    monkeypatch.setenv("CAIRN_API_KEY", _key(first, user_id="alice"))
    weights = tmp_path / "weights.bin"
    weights.write_bytes(hashlib.sha256(b"w").digest() * 64)
    with cairn.init(name="parent", config={"lr": 0.1, "layers": 4}, tags={"stage": "a"}) as run:
        for step in range(STEPS):
            run.log({"loss": 1.0 / (step + 1), "acc": step / STEPS}, step=step)
        run.log_artifact(weights, name="weights", kind="model")
    parent = run.id
    first.wait_for_runs(project=PROJECT, count=1, status="finished")
    with cairn.init(name="child", parent=parent, config={"fold": 1}) as child:
        child.log({"auc": 0.9}, step=0)
    with cairn.init(name="fork", fork_from=parent, fork_step=99) as fork:
        fork.log({"loss": 0.5}, step=100)
    first.wait_for_runs(project=PROJECT, count=3, status="finished")


@pytest.mark.timeout(600)  # two installations, six processes, on a shared two-core machine
def test_a_bundle_replays_into_another_installation_identically_and_once(
    pipeline: Pipeline, second: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_project(pipeline, tmp_path, monkeypatch)
    before = _settled(pipeline)
    assert before["runs"][0] == 3
    assert before["metrics"][0] == 2 * STEPS + 1 + 2 * 100 + 1

    bundle = tmp_path / "bundle"
    exporter = {**pipeline.env(tmp_path / "one", PROJECT), "CAIRN_API_KEY": _key(pipeline)}
    out = _cli(["export-bundle", "--project", PROJECT, "--out", str(bundle)], exporter)
    assert "exported" in out.stdout, out.stdout
    assert "(3 runs, 1 artifact files)" in out.stdout, out.stdout

    # Another team's key may not export the project (rule team_scope), nor import it.
    stranger = {**exporter, "CAIRN_API_KEY": _key(pipeline, team="other"), "CAIRN_TEAM": "other"}
    refused = _cli(
        ["export-bundle", "--project", PROJECT, "--team", TEAM, "--out", str(tmp_path / "x")],
        stranger,
        ok=False,
    )
    assert "team_scope" in refused.stderr, refused.stderr

    importer = {
        **second.env(tmp_path / "two", PROJECT),
        "CAIRN_API_KEY": _key(second, role="admin"),
    }
    outsider = {**importer, "CAIRN_API_KEY": _key(second, team="other"), "CAIRN_TEAM": "other"}
    refused = _cli(["import-bundle", str(bundle)], outsider, ok=False)
    assert "team_scope" in refused.stderr, refused.stderr

    done = _cli(["import-bundle", str(bundle), "--keep-people"], importer)
    assert "imported" in done.stdout, done.stdout
    assert "(3 runs, 1 artifact files); 0 runs already imported" in done.stdout, done.stdout
    second.wait_for_runs(project=PROJECT, count=3, status="finished")
    after = _settled(second)
    assert after == before

    stored = Path(importer["CAIRN_DIR"]).parent / "artifacts"
    assert len([p for p in stored.rglob("*") if p.is_file()]) == 1

    again = _cli(["import-bundle", str(bundle), "--keep-people"], importer)
    assert "3 runs already imported" in again.stdout, again.stdout
    time.sleep(3.0)
    assert _settled(second) == before
