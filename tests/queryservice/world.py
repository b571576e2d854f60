"""A small world written through the real pipeline for the query-service tests: two teams,
runs logged with the SDK, read back through ``cairn.Api``.

- team ``vision`` (the pipeline's writer key): project ``qs-churn``, three finished runs with
  params ``lr`` (float), ``layers`` (int), ``optimizer`` (text), a ``loss`` metric of 20 steps,
  tags, a dataset and the command line;
- team ``risk`` (a key of its own): project ``qs-secret``, one run vision must never see
  unless risk shares the project.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from pathlib import Path

import cairn
from cairn.config import Capture, Settings
from ingest.keys import issue_key_directly
from tests.pipeline import TEAM, Pipeline

PROJECT = "qs-churn"
OTHER_TEAM = "risk"
SECRET_PROJECT = "qs-secret"
LRS = (0.1, 0.01, 0.001)
STEPS = 20


@dataclass(frozen=True)
class World:
    pipeline: Pipeline
    vision_key: str
    risk_key: str
    runs: tuple[str, ...]  # vision's, in the order they were logged (lr 0.1, 0.01, 0.001)
    secret_run: str
    directory: Path

    def settings(self, key: str, team: str = TEAM) -> Settings:
        return replace(
            self.pipeline.settings(self.directory / f"api-{team}"), api_key=key, team=team
        )

    def api(self, key: str | None = None, team: str = TEAM) -> cairn.Api:
        return cairn.Api(settings=self.settings(key or self.vision_key, team))


def _log(settings: Settings, project: str, index: int, lr: float, dataset: Path) -> str:
    with cairn.init(
        name=f"lr-{lr}",
        config={"lr": lr, "layers": 2 + index, "optimizer": "adam" if index else "sgd"},
        tags={"stage": "tuning", "index": index},
        settings=replace(settings, project=project),
    ) as run:
        for step in range(STEPS):
            run.log({"loss": lr * 10 / (step + 1), "acc": step / STEPS}, step=step)
        run.use_dataset(dataset, name="train")
        if index == 0:
            run.comment("baseline: too high a learning rate")
    return run.id


def build(pipeline: Pipeline, directory: Path) -> World:
    risk_key = asyncio.run(
        issue_key_directly(
            pipeline.stack.bootstrap,
            team=OTHER_TEAM,
            role="writer",
            name="risk-jobs",
            topic=pipeline.stack.identity_topic,
        )
    )
    dataset = directory / "train.csv"
    dataset.write_text("x,y\n1,2\n")
    base = replace(
        pipeline.settings(directory / "sdk"),
        capture=Capture(
            git=False,
            diff=False,
            environment=True,
            packages=False,
            gpu=False,
            command=True,
            system_metrics=False,
        ),
    )
    runs = tuple(_log(base, PROJECT, i, lr, dataset) for i, lr in enumerate(LRS))
    risk = replace(base, api_key=risk_key, team=OTHER_TEAM, dir=directory / "sdk-risk")
    deadline = time.monotonic() + 30
    while True:  # ingest learns about the new key from the identity topic within ~1 s
        try:
            secret = _log(risk, SECRET_PROJECT, 0, 0.5, dataset)
            break
        except cairn.CairnError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    pipeline.wait_for_runs(project=PROJECT, count=3, status="finished")
    pipeline.wait_for_runs(project=SECRET_PROJECT, count=1, status="finished")
    _wait_for_points(pipeline, [*runs, secret])
    return World(pipeline, pipeline.stack.api_key, risk_key, runs, secret, directory)


def _wait_for_points(pipeline: Pipeline, run_ids: list[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    expected = len(run_ids) * STEPS * 2
    while time.monotonic() < deadline:
        rows = pipeline.rows(
            "SELECT count() FROM metric_points WHERE run_id IN {ids:Array(String)}", ids=run_ids
        )
        if rows[0][0] >= expected:
            return
        time.sleep(0.3)
    raise AssertionError(f"{expected} metric points not in the store within {timeout}s")
