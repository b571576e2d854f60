"""``cairn import neptune-export``: a Parquet export laid out and typed as neptune-exporter
documents it (one directory per project, ``<run>_part_<n>.parquet``, the columns of its
``SCHEMA``; files under a separate files path) becomes Cairn runs, and importing it again adds
nothing. The fixture is built here from the documented schema, not by neptune-exporter."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cairn._registry import reads_for
from tests.pipeline import Pipeline  # the `pipeline` fixture is a plugin (tests/conftest.py)

pytestmark = pytest.mark.integration

NEPTUNE_PROJECT = "acme/churn-neptune"
PROJECT = "churn-neptune"
PROJECT_DIR = "acme_churn-neptune_3f2a9c"  # neptune-exporter sanitises, adding a digest
STEPS = 10_000
FORK_STEP = 5_000

SCHEMA = pa.schema(
    [
        ("project_id", pa.string()),
        ("run_id", pa.string()),
        ("attribute_path", pa.string()),
        ("attribute_type", pa.string()),
        ("step", pa.decimal128(18, 6)),
        ("timestamp", pa.timestamp("ms", tz="UTC")),
        ("int_value", pa.int64()),
        ("float_value", pa.float64()),
        ("string_value", pa.string()),
        ("bool_value", pa.bool_()),
        ("datetime_value", pa.timestamp("ms", tz="UTC")),
        ("string_set_value", pa.list_(pa.string())),
        ("file_value", pa.struct([("path", pa.string())])),
        (
            "histogram_value",
            pa.struct(
                [
                    ("type", pa.string()),
                    ("edges", pa.list_(pa.float64())),
                    ("values", pa.list_(pa.float64())),
                ]
            ),
        ),
    ]
)
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def row(run_id: str, path: str, kind: str, **values: Any) -> dict[str, Any]:
    base = dict.fromkeys(SCHEMA.names)
    base.update(project_id=NEPTUNE_PROJECT, run_id=run_id, attribute_path=path, attribute_type=kind)
    base.update(values)
    return base


def series(run_id: str, key: str, steps: range, value: Any) -> list[dict[str, Any]]:
    return [
        row(
            run_id,
            key,
            "float_series",
            step=Decimal(step),
            timestamp=datetime.fromtimestamp(START.timestamp() + step, UTC),
            float_value=value(step),
        )
        for step in steps
    ]


def write_part(directory: Path, run_id: str, part: int, rows: list[dict[str, Any]]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    pq.write_table(table, directory / f"{run_id}_part_{part}.parquet", compression="snappy")


def write_export(root: Path) -> dict[str, Any]:
    """SAN-1: params, tags, two 10,000-point series (split over two parts), a histogram series,
    a string series, a file. SAN-2: forked from SAN-1 at step 5,000, with a file series."""
    data, files = root / "data" / PROJECT_DIR, root / "files" / PROJECT_DIR
    (files / "SAN-1").mkdir(parents=True)
    (files / "SAN-1" / "config.json").write_text(json.dumps({"layers": 4}))
    (files / "SAN-2" / "samples").mkdir(parents=True)
    for step in (0, 1):
        (files / "SAN-2" / "samples" / f"{step}.png").write_bytes(os.urandom(256))
    meta = [
        row("SAN-1", "sys/id", "string", string_value="SAN-1"),
        row("SAN-1", "sys/name", "string", string_value="churn-baseline"),
        row("SAN-1", "sys/creation_time", "datetime", datetime_value=START),
        row("SAN-1", "sys/tags", "string_set", string_set_value=["baseline", "v3"]),
        row("SAN-1", "parameters/lr", "float", float_value=0.001),
        row("SAN-1", "parameters/batch_size", "int", int_value=64),
        row("SAN-1", "parameters/optimizer", "string", string_value="adam"),
        row("SAN-1", "parameters/augment", "bool", bool_value=True),
        row("SAN-1", "files/config", "file", file_value={"path": "SAN-1/config.json"}),
    ]
    meta += [
        row(
            "SAN-1",
            "debug/weights",
            "histogram_series",
            step=Decimal(step),
            timestamp=START,
            histogram_value={"type": "COUNTING", "edges": [0.0, 0.5, 1.0], "values": [3.0, 7.0]},
        )
        for step in range(3)
    ]
    meta += [
        row("SAN-1", "logs/stdout", "string_series", step=Decimal(s), string_value=f"line {s}")
        for s in range(5)
    ]
    loss = series("SAN-1", "metrics/loss", range(STEPS), lambda s: 1.0 / (s + 1))
    acc = series("SAN-1", "metrics/acc", range(STEPS), lambda s: s / STEPS)
    write_part(data, "SAN-1", 0, meta + loss)
    write_part(data, "SAN-1", 1, acc)
    fork = [
        row("SAN-2", "sys/id", "string", string_value="SAN-2"),
        row("SAN-2", "sys/name", "string", string_value="churn-baseline"),
        row("SAN-2", "sys/creation_time", "datetime", datetime_value=START.replace(hour=10)),
        row("SAN-2", "sys/forking/parent", "string", string_value="SAN-1"),
        row("SAN-2", "sys/forking/step", "float", float_value=float(FORK_STEP)),
        row("SAN-2", "parameters/lr", "float", float_value=0.0005),
    ]
    fork += series("SAN-2", "metrics/loss", range(FORK_STEP + 1, FORK_STEP + 101), lambda s: 0.1)
    fork += [
        row(
            "SAN-2",
            "samples/images",
            "file_series",
            step=Decimal(step),
            timestamp=START,
            file_value={"path": f"SAN-2/samples/{step}.png"},
        )
        for step in (0, 1)
    ]
    write_part(data, "SAN-2", 0, fork)
    return {"data": root / "data", "files": root / "files", "file_root": files}


def import_cli(export: dict[str, Any], env: dict[str, str], *extra: str) -> list[str]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cairn.cli",
            "import",
            "neptune-export",
            str(export["data"]),
            "--files",
            str(export["files"]),
            *extra,
        ],
        env={**os.environ, **env},
        cwd=Path(env["CAIRN_DIR"]).parent,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()


def event_count(pipeline: Pipeline) -> int:
    (found,) = pipeline.rows("SELECT count() FROM events WHERE project = {p:String}", p=PROJECT)
    return int(found[0])


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_neptune_export_imports_runs_series_files_and_forks_once(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    export = write_export(tmp_path / "exports")
    env = pipeline.env(tmp_path, "unused")
    points = 2 * STEPS + 100

    dry = import_cli(export, env, "--dry-run")
    assert dry[0].startswith(f"neptune-export {export['data']}: would import 2 runs ({points}")
    assert event_count(pipeline) == 0

    lines = import_cli(export, env)
    assert lines[0].startswith(
        f"neptune-export {export['data']}: imported 2 runs ({points} points, 5 params, 3 artifacts)"
    ), lines
    assert "  note: 5 string-series points not imported" in lines, lines

    pipeline.wait_for_runs(project=PROJECT, count=2, status="finished")
    runs = {
        name: (run_id, params, tags)
        for run_id, name, params, tags in pipeline.rows(
            "SELECT run_id, name, params, tags FROM runs WHERE project = {p:String}", p=PROJECT
        )
    }
    assert set(runs) == {"SAN-1", "SAN-2"}
    parent_id, params, tags = runs["SAN-1"]
    assert params == {
        "parameters/lr": "0.001",
        "parameters/batch_size": "64",
        "parameters/optimizer": "adam",
        "parameters/augment": "true",
    }
    assert tags["neptune.run_id"] == "SAN-1"
    assert tags["neptune.experiment"] == "churn-baseline"
    assert tags["neptune.tag.baseline"] == "true"
    fork_id, _, fork_tags = runs["SAN-2"]
    assert fork_tags["cairn.forked_from"] == parent_id
    assert fork_tags["cairn.fork_step"] == str(float(FORK_STEP))

    expected = {
        (parent_id, "metrics/loss"): [(s, 1.0 / (s + 1)) for s in range(STEPS)],
        (parent_id, "metrics/acc"): [(s, s / STEPS) for s in range(STEPS)],
        (fork_id, "metrics/loss"): [(s, 0.1) for s in range(FORK_STEP + 1, FORK_STEP + 101)],
    }
    for (run_id, key), want in expected.items():
        stored = pipeline.rows(
            "SELECT step, value, toUnixTimestamp64Milli(timestamp) FROM metric_points"
            " WHERE run_id = {r:String} AND key = {k:String} ORDER BY step",
            r=run_id,
            k=key,
        )
        assert [(int(s), v) for s, v, _ in stored] == want, (run_id, key)
        assert [int(t) for _, _, t in stored] == [
            int((START.timestamp() + s) * 1000) for s, _ in want
        ]
    (histograms,) = pipeline.rows(
        "SELECT count() FROM histogram_steps WHERE run_id = {r:String} AND key = 'debug/weights'",
        r=parent_id,
    )
    assert int(histograms[0]) == 3

    reads = reads_for(pipeline.settings(tmp_path, project=PROJECT))
    root = export["file_root"]
    assert reads.artifact(parent_id, "files/config")[0] == sha256_of(root / "SAN-1/config.json")
    for step in (0, 1):
        got = reads.artifact(fork_id, f"samples/images@{step}")[0]
        assert got == sha256_of(root / f"SAN-2/samples/{step}.png")

    time.sleep(1.0)
    before = event_count(pipeline)
    again = import_cli(export, env)
    assert "imported 0 runs" in again[0], again
    assert "2 runs already imported" in again[0], again
    time.sleep(2.0)  # what a second import could have changed would be projected by now
    assert event_count(pipeline) == before
