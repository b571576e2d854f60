"""A small, fully known Cairn world for query tests: three teams, their runs and everything
people do around them, as contract events.

The events go through the real projections (:class:`domain.projections.Projection`) and the real
writer into a fresh database, so queries read exactly what the processors would have written.
Some events are sent twice, as Kafka may redeliver them, to prove that nothing is counted twice.

Teams and what is shared across them:

- ``risk`` (alice, bob; bob left): projects ``churn`` and ``credit``.
- ``vision`` (carol, erin): project ``detector``, shared with team ``nlp``.
- ``nlp`` (dave): project ``chat``; run ``n-chat-1`` is shared with the user alice.
- ``v-det-2`` was shared with team ``risk`` and then unshared: risk must not see it.
"""

from __future__ import annotations

import itertools
import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cairn.v1 import (
    collaboration_pb2,
    common_pb2,
    envelope_pb2,
    events_pb2,
    identity_pb2,
    metrics_pb2,
    models_pb2,
    provenance_pb2,
    runs_pb2,
)
from tests.builders import event

RUN = envelope_pb2.AGGREGATE_KIND_RUN
PROJECT = envelope_pb2.AGGREGATE_KIND_PROJECT
MODEL = envelope_pb2.AGGREGATE_KIND_MODEL
TEAM = envelope_pb2.AGGREGATE_KIND_TEAM

COMMIT_A = "a" * 40
COMMIT_B = "b" * 40
REMOTE = "git@github.com:acme/churn.git"
TRAIN_V1 = "sha256:" + "1" * 64
TRAIN_V2 = "sha256:" + "2" * 64
EVAL = "sha256:" + "e" * 64
HOLDOUT = "sha256:" + "3" * 64
VISION_DATA = "sha256:" + "7" * 64
ARTIFACT_1 = "f1" * 32
ARTIFACT_2 = "f2" * 32
LOSS_STEPS = 5_000
SPIKE_STEP = 2_345
DIP_STEP = 3_001
RELOGGED_SPIKE = 500.0


@dataclass(frozen=True)
class Clock:
    """Times relative to now: this month's runs fall between the month's start and now."""

    now: datetime

    @property
    def this_month(self) -> datetime:
        start = self.now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        return start + (self.now - start) / 2

    @property
    def long_ago(self) -> datetime:
        start = self.now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        return start - timedelta(days=45)


def ns(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1_000


class _Log:
    """Collects events with per-aggregate sequence numbers and increasing times."""

    def __init__(self) -> None:
        self.events: list[events_pb2.Event] = []
        self.identity: list[events_pb2.Event] = []
        self._seq: dict[str, itertools.count[int]] = {}

    def add(
        self,
        aggregate: str,
        field: str,
        payload: Any,
        *,
        team: str,
        project: str,
        at: datetime,
        actor: str,
        kind: int = RUN,
        identity: bool = False,
    ) -> events_pb2.Event:
        counter = self._seq.setdefault(f"{kind}:{aggregate}", itertools.count(1))
        ev = event(
            field,
            payload,
            run_id=aggregate,
            sequence=next(counter),
            team=team,
            project=project,
            actor=actor,
            aggregate_kind=kind,
            occurred_at_ns=ns(at),
            event_id=str(uuid.uuid4()),
        )
        (self.identity if identity else self.events).append(ev)
        return ev


@dataclass(frozen=True)
class RunSpec:
    run_id: str
    team: str
    project: str
    owner: str
    status: int
    created: datetime
    params: dict[str, Any]
    val_acc: float | None  # last value; None: no metrics
    tags: dict[str, str]


def _param(key: str, value: Any) -> runs_pb2.Param:
    if isinstance(value, bool):
        return runs_pb2.Param(key=key, value=runs_pb2.ParamValue(bool_value=value))
    if isinstance(value, int):
        return runs_pb2.Param(key=key, value=runs_pb2.ParamValue(int_value=value))
    if isinstance(value, float):
        return runs_pb2.Param(key=key, value=runs_pb2.ParamValue(double_value=value))
    return runs_pb2.Param(key=key, value=runs_pb2.ParamValue(string_value=value))


FINISHED = runs_pb2.RUN_STATUS_FINISHED
FAILED = runs_pb2.RUN_STATUS_FAILED
RUNNING = runs_pb2.RUN_STATUS_RUNNING


def run_specs(clock: Clock) -> list[RunSpec]:
    m, old = clock.this_month, clock.long_ago
    return [
        RunSpec(
            "r-churn-1",
            "risk",
            "churn",
            "alice",
            FINISHED,
            m,
            {"lr": 1e-4, "optimizer": "adam", "batch_size": 64, "use_amp": True},
            0.93,
            {"stage": "tuning"},
        ),
        RunSpec(
            "r-churn-2",
            "risk",
            "churn",
            "bob",
            FINISHED,
            m + timedelta(minutes=1),
            {"lr": 3e-3, "optimizer": "sgd", "batch_size": 64, "use_amp": False},
            0.88,
            {"stage": "tuning"},
        ),
        RunSpec(
            "r-churn-3",
            "risk",
            "churn",
            "alice",
            FINISHED,
            old,
            {"lr": 5e-4, "optimizer": "adam", "batch_size": 128},
            0.95,
            {"stage": "baseline"},
        ),
        RunSpec(
            "r-churn-4",
            "risk",
            "churn",
            "bob",
            FAILED,
            m + timedelta(minutes=2),
            {"lr": 1e-2, "optimizer": "sgd"},
            0.5,
            {"stage": "tuning"},
        ),
        RunSpec(
            "r-churn-5",
            "risk",
            "churn",
            "alice",
            RUNNING,
            m + timedelta(minutes=3),
            {"lr": 2e-4, "optimizer": "adam"},
            None,
            {},
        ),
        RunSpec(
            "r-credit-1",
            "risk",
            "credit",
            "bob",
            FINISHED,
            m + timedelta(minutes=4),
            {"lr": 1e-3, "optimizer": "adamw", "model.layers": 4},
            0.91,
            {"stage": "candidate"},
        ),
        RunSpec(
            "v-det-1",
            "vision",
            "detector",
            "carol",
            FINISHED,
            m + timedelta(minutes=5),
            {"lr": 1e-3, "optimizer": "adam"},
            0.97,
            {"stage": "candidate"},
        ),
        RunSpec(
            "v-det-2",
            "vision",
            "detector",
            "erin",
            FAILED,
            m + timedelta(minutes=6),
            {"lr": 5e-2, "optimizer": "sgd"},
            0.80,
            {"stage": "tuning"},
        ),
        RunSpec(
            "n-chat-1",
            "nlp",
            "chat",
            "dave",
            FINISHED,
            m + timedelta(minutes=7),
            {"lr": 2e-5, "optimizer": "adamw"},
            0.70,
            {"stage": "tuning"},
        ),
        RunSpec(
            "n-chat-2",
            "nlp",
            "chat",
            "dave",
            FINISHED,
            old + timedelta(days=1),
            {"lr": 1e-5, "optimizer": "adamw"},
            0.75,
            {},
        ),
    ]


def loss_value(step: int) -> float:
    """The long ``loss`` series of r-churn-1: a smooth decay with one spike and one dip."""
    if step == SPIKE_STEP:
        return 100.0
    if step == DIP_STEP:
        return -50.0
    return 2.0 * math.exp(-step / 1500) + 0.01 * math.sin(step)


def _run_events(log: _Log, spec: RunSpec) -> None:
    def add(
        field: str, payload: Any, at: datetime | None = None, actor: str | None = None
    ) -> events_pb2.Event:
        return log.add(
            spec.run_id,
            field,
            payload,
            team=spec.team,
            project=spec.project,
            at=at or spec.created,
            actor=actor or spec.owner,
        )

    add(
        "run_created",
        runs_pb2.RunCreated(name=f"{spec.run_id} name", owner=spec.owner, host="gpu-1"),
    )
    add("params_set", runs_pb2.ParamsSet(params=[_param(k, v) for k, v in spec.params.items()]))
    if spec.tags:
        add(
            "tags_set",
            runs_pb2.TagsSet(tags=[runs_pb2.Tag(key=k, value=v) for k, v in spec.tags.items()]),
        )
    if spec.val_acc is not None:
        series = [
            metrics_pb2.MetricSeries(
                key="val_acc",
                steps=[0, 50, 100],
                values=[0.1, (0.1 + spec.val_acc) / 2, spec.val_acc],
            ),
            metrics_pb2.MetricSeries(
                key="train/loss", steps=[0, 100], values=[2.0, 1.0 - spec.val_acc]
            ),
        ]
        add(
            "metrics",
            metrics_pb2.MetricBatch(series=series),
            at=spec.created + timedelta(seconds=30),
        )
    if spec.status != RUNNING:
        add(
            "run_status_changed",
            runs_pb2.RunStatusChanged(
                status=spec.status, exit_code=1 if spec.status == FAILED else 0
            ),
            at=spec.created + timedelta(seconds=60 if spec.status == FINISHED else 20),
        )


def build(clock: Clock) -> _Log:
    log = _Log()
    specs = run_specs(clock)
    for spec in specs:
        _run_events(log, spec)
    by_id = {s.run_id: s for s in specs}

    def on(
        run_id: str, field: str, payload: Any, *, actor: str | None = None, minutes: float = 0.5
    ) -> events_pb2.Event:
        s = by_id[run_id]
        return log.add(
            run_id,
            field,
            payload,
            team=s.team,
            project=s.project,
            at=s.created + timedelta(minutes=minutes),
            actor=actor or s.owner,
        )

    # The long loss series of r-churn-1, in five batches; one batch is redelivered below.
    steps = list(range(LOSS_STEPS))
    for chunk in range(5):
        part = steps[chunk * 1000 : (chunk + 1) * 1000]
        batch = metrics_pb2.MetricBatch(
            series=[
                metrics_pb2.MetricSeries(
                    key="loss",
                    steps=part,
                    values=[loss_value(s) for s in part],
                    timestamps_ns=[ns(by_id["r-churn-1"].created) + s * 1_000_000 for s in part],
                )
            ]
        )
        on("r-churn-1", "metrics", batch, minutes=0.2)

    # A series whose steps 2000..2100 were logged again after a resume: the first pass had a
    # spike at step 2050 that the re-log replaced. Nothing may show the replaced value.
    first = metrics_pb2.MetricSeries(
        key="resumed", steps=steps, values=[RELOGGED_SPIKE if s == 2050 else 1.0 for s in steps]
    )
    on("r-churn-1", "metrics", metrics_pb2.MetricBatch(series=[first]), minutes=0.3)
    again = list(range(2000, 2101))
    second = metrics_pb2.MetricSeries(key="resumed", steps=again, values=[2.0 for _ in again])
    on("r-churn-1", "metrics", metrics_pb2.MetricBatch(series=[second]), minutes=0.4)

    # Code: churn-1 clean at A, churn-2 dirty at A, churn-3 at B.
    on(
        "r-churn-1",
        "code_version_recorded",
        provenance_pb2.CodeVersionRecorded(
            git_remote=REMOTE, branch="main", commit=COMMIT_A, entry_point="train.py"
        ),
    )
    on(
        "r-churn-2",
        "code_version_recorded",
        provenance_pb2.CodeVersionRecorded(
            git_remote=REMOTE,
            branch="main",
            commit=COMMIT_A,
            dirty=True,
            diff="--- a/train.py\n+++ b/train.py\n@@ -1 +1 @@\n-lr = 1e-4\n+lr = 3e-3\n",
            diff_sha256="d" * 64,
            entry_point="train.py",
        ),
    )
    on(
        "r-churn-3",
        "code_version_recorded",
        provenance_pb2.CodeVersionRecorded(
            git_remote=REMOTE, branch="exp", commit=COMMIT_B, entry_point="train.py"
        ),
    )

    def env(run_id: str, python: str, packages: dict[str, str]) -> None:
        on(
            run_id,
            "environment_recorded",
            provenance_pb2.EnvironmentRecorded(
                python_version=python,
                python_implementation="CPython",
                os="Linux",
                hostname=f"{run_id}-host",
                packages=[
                    provenance_pb2.Package(name=n, version=v, source="pip")
                    for n, v in packages.items()
                ],
            ),
        )

    env("r-churn-1", "3.11.9", {"numpy": "1.26.4", "torch": "2.2.0", "scikit-learn": "1.4.0"})
    env("r-churn-2", "3.12.3", {"numpy": "2.0.1", "torch": "2.2.0", "pandas": "2.2.2"})
    env("v-det-1", "3.11.9", {"numpy": "1.26.4", "torch": "2.3.0"})
    env("n-chat-1", "3.11.9", {"numpy": "2.0.1", "transformers": "4.44.0"})

    def dataset(
        run_id: str, name: str, digest: str, role: int = common_pb2.DATA_ROLE_INPUT
    ) -> None:
        on(
            run_id,
            "dataset_recorded",
            provenance_pb2.DatasetRecorded(
                name=name,
                uri=f"s3://data/{name}",
                digest=digest,
                manifest_digest=digest.replace("sha256:", "sha256:0"),
                size_bytes=1000,
                file_count=3,
                role=role,
                version="v1",
            ),
        )

    dataset("r-churn-1", "train", TRAIN_V1)
    dataset("r-churn-1", "eval", EVAL)
    dataset("r-churn-2", "train", TRAIN_V2)
    dataset("r-churn-2", "eval", EVAL)
    dataset("r-churn-2", "holdout", HOLDOUT)
    dataset("v-det-1", "images", VISION_DATA)
    dataset("r-churn-3", "train", TRAIN_V1)
    dataset("v-det-2", "eval", EVAL)  # another team's run on the same data: risk must not see it

    def artifact(run_id: str, sha: str, role: int) -> None:
        on(
            run_id,
            "artifact_logged",
            provenance_pb2.ArtifactLogged(
                name="model.pt",
                kind=provenance_pb2.ARTIFACT_KIND_MODEL,
                uri=f"s3://artifacts/{sha[:8]}",
                sha256=sha,
                size_bytes=10,
                role=role,
            ),
            minutes=0.9,
        )

    artifact("r-churn-1", ARTIFACT_1, common_pb2.DATA_ROLE_OUTPUT)
    artifact("r-churn-2", ARTIFACT_1, common_pb2.DATA_ROLE_INPUT)  # fine-tuned from churn-1's model
    artifact("r-churn-2", ARTIFACT_2, common_pb2.DATA_ROLE_OUTPUT)

    # Models: churn-model v1 (churn-1), v2 (churn-2, production, champion); detector v1 (v-det-1).
    def model(
        model_id: str, team: str, project: str, field: str, payload: Any, actor: str, minutes: float
    ) -> None:
        log.add(
            model_id,
            field,
            payload,
            team=team,
            project=project,
            at=clock.this_month + timedelta(minutes=minutes),
            actor=actor,
            kind=MODEL,
        )

    model(
        "churn-model",
        "risk",
        "churn",
        "model_registered",
        models_pb2.ModelRegistered(name="churn"),
        "alice",
        10,
    )
    model(
        "churn-model",
        "risk",
        "churn",
        "model_version_created",
        models_pb2.ModelVersionCreated(
            version=1, run_id="r-churn-1", artifact_name="model.pt", artifact_sha256=ARTIFACT_1
        ),
        "alice",
        11,
    )
    model(
        "churn-model",
        "risk",
        "churn",
        "model_version_created",
        models_pb2.ModelVersionCreated(
            version=2, run_id="r-churn-2", artifact_name="model.pt", artifact_sha256=ARTIFACT_2
        ),
        "bob",
        12,
    )
    model(
        "churn-model",
        "risk",
        "churn",
        "model_version_stage_changed",
        models_pb2.ModelVersionStageChanged(
            version=2, stage=models_pb2.MODEL_STAGE_PRODUCTION, reason="best holdout"
        ),
        "alice",
        13,
    )
    model(
        "churn-model",
        "risk",
        "churn",
        "model_alias_set",
        models_pb2.ModelAliasSet(alias="champion", version=2),
        "alice",
        14,
    )
    model(
        "detector-model",
        "vision",
        "detector",
        "model_registered",
        models_pb2.ModelRegistered(name="detector"),
        "carol",
        10,
    )
    model(
        "detector-model",
        "vision",
        "detector",
        "model_version_created",
        models_pb2.ModelVersionCreated(
            version=1, run_id="v-det-1", artifact_name="det.pt", artifact_sha256="c" * 64
        ),
        "carol",
        11,
    )
    model(
        "detector-model",
        "vision",
        "detector",
        "model_version_stage_changed",
        models_pb2.ModelVersionStageChanged(version=1, stage=models_pb2.MODEL_STAGE_PRODUCTION),
        "carol",
        12,
    )

    # Comments on r-churn-1: a thread, and a deleted comment whose body must stay hidden.
    on(
        "r-churn-1",
        "comment_added",
        collaboration_pb2.CommentAdded(
            comment_id="c1",
            body_markdown="plateau at 3k steps",
            anchor=collaboration_pb2.MetricAnchor(metric_key="loss", step_min=2900, step_max=3100),
        ),
        actor="bob",
        minutes=20,
    )
    on(
        "r-churn-1",
        "comment_added",
        collaboration_pb2.CommentAdded(
            comment_id="c2", body_markdown="lr decay fixes it", reply_to="c1", mentions=["bob"]
        ),
        actor="alice",
        minutes=21,
    )
    on(
        "r-churn-1",
        "comment_added",
        collaboration_pb2.CommentAdded(comment_id="c3", body_markdown="SECRET-TOKEN oops"),
        actor="alice",
        minutes=22,
    )
    on(
        "r-churn-1",
        "comment_deleted",
        collaboration_pb2.CommentDeleted(comment_id="c3", reason="pasted a secret"),
        actor="alice",
        minutes=23,
    )
    on(
        "r-churn-1",
        "comment_edited",
        collaboration_pb2.CommentEdited(
            comment_id="c1", body_markdown="plateau at 3k steps (edited)"
        ),
        actor="bob",
        minutes=24,
    )
    on(
        "v-det-1",
        "comment_added",
        collaboration_pb2.CommentAdded(comment_id="c4", body_markdown="vision-internal note"),
        actor="carol",
        minutes=20,
    )
    on(
        "r-churn-2",
        "comment_added",
        collaboration_pb2.CommentAdded(comment_id="c5", body_markdown="ship it"),
        actor="alice",
        minutes=25,
    )

    # Decisions, shares, ownership, notes.
    log.add(
        "churn",
        "decision_recorded",
        collaboration_pb2.DecisionRecorded(
            decision_id="d1",
            title="ship v2",
            body_markdown="holdout +2%",
            run_ids=["r-churn-2", "r-churn-1"],
        ),
        team="risk",
        project="churn",
        at=clock.this_month + timedelta(minutes=30),
        actor="alice",
        kind=PROJECT,
    )
    log.add(
        "detector",
        "decision_recorded",
        collaboration_pb2.DecisionRecorded(
            decision_id="d2", title="vision only", run_ids=["v-det-1"]
        ),
        team="vision",
        project="detector",
        at=clock.this_month + timedelta(minutes=30),
        actor="carol",
        kind=PROJECT,
    )
    on(
        "n-chat-1",
        "resource_shared",
        collaboration_pb2.ResourceShared(
            grantee=collaboration_pb2.Principal(
                kind=collaboration_pb2.PRINCIPAL_KIND_USER, id="alice"
            ),
            access=collaboration_pb2.ACCESS_LEVEL_VIEW,
            note="have a look",
        ),
        minutes=40,
    )
    log.add(
        "detector",
        "resource_shared",
        collaboration_pb2.ResourceShared(
            grantee=collaboration_pb2.Principal(
                kind=collaboration_pb2.PRINCIPAL_KIND_TEAM, id="nlp"
            ),
            access=collaboration_pb2.ACCESS_LEVEL_COMMENT,
        ),
        team="vision",
        project="detector",
        at=clock.this_month + timedelta(minutes=40),
        actor="carol",
        kind=PROJECT,
    )
    on(
        "v-det-2",
        "resource_shared",
        collaboration_pb2.ResourceShared(
            grantee=collaboration_pb2.Principal(
                kind=collaboration_pb2.PRINCIPAL_KIND_TEAM, id="risk"
            ),
            access=collaboration_pb2.ACCESS_LEVEL_VIEW,
        ),
        minutes=41,
    )
    on(
        "v-det-2",
        "resource_unshared",
        collaboration_pb2.ResourceUnshared(
            grantee=collaboration_pb2.Principal(
                kind=collaboration_pb2.PRINCIPAL_KIND_TEAM, id="risk"
            )
        ),
        minutes=42,
    )
    on(
        "r-churn-3",
        "ownership_transferred",
        collaboration_pb2.OwnershipTransferred(
            from_user="alice", to_user="bob", reason="alice moves to credit"
        ),
        actor="alice",
        minutes=50,
    )
    log.add(
        "churn",
        "project_notes_set",
        collaboration_pb2.ProjectNotesSet(body_markdown="# Churn\nweekly retrain"),
        team="risk",
        project="churn",
        at=clock.this_month,
        actor="alice",
        kind=PROJECT,
    )

    # Identity: teams and members (bob left risk but his runs stay his).
    for team, members in (
        ("risk", ("alice", "bob")),
        ("vision", ("carol", "erin")),
        ("nlp", ("dave",)),
    ):
        log.add(
            team,
            "team_created",
            identity_pb2.TeamCreated(display_name=team.title()),
            team=team,
            project="",
            at=clock.long_ago,
            actor="admin",
            kind=TEAM,
            identity=True,
        )
        for user in members:
            log.add(
                team,
                "member_joined",
                identity_pb2.MemberJoined(
                    user_id=user, display_name=user.title(), role=identity_pb2.MEMBER_ROLE_MEMBER
                ),
                team=team,
                project="",
                at=clock.long_ago,
                actor="admin",
                kind=TEAM,
                identity=True,
            )
    log.add(
        "risk",
        "member_left",
        identity_pb2.MemberLeft(user_id="bob", reason="new job"),
        team="risk",
        project="",
        at=clock.this_month,
        actor="admin",
        kind=TEAM,
        identity=True,
    )

    # Kafka delivers at least once: some events arrive twice.
    log.events += [
        log.events[1],
        log.events[5],
        next(e for e in log.events if e.WhichOneof("payload") == "metrics"),
    ]
    return log
