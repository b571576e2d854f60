"""The demo's story (:func:`build_demo`): two teams, three projects, a sweep, a feature pipeline,
a model in production with its lineage, a fork and a rewind, comments, a decision, a share, project
notes and a handover, as events in causal order built from :mod:`localstack.demo_events`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from cairn_contract import sweep_record as record
from cairn_contract.ids import new_uuid7
from cairn_contract.v1 import (
    collaboration_pb2,
    identity_pb2,
    lineage_pb2,
    metrics_pb2,
    models_pb2,
    runs_pb2,
)
from localstack.demo_events import (
    HOUR,
    MODEL,
    PEOPLE,
    PROJECT,
    RUN,
    TEAM,
    Code,
    Env,
    EventLog,
    Stored,
    add_run,
    param,
)

TEAMS = {"risk": "Risk Modelling", "vision": "Computer Vision"}
PROJECTS = {
    ("risk", "churn"): ("Customer churn", "Predict which subscribers cancel within 60 days."),
    ("risk", "fraud"): ("Card fraud", "Score card transactions for fraud in real time."),
    ("vision", "defects"): ("Weld defects", "Detect weld defects on the assembly-line cameras."),
}


def _identity(log: EventLog) -> None:
    """Projects and members (teams themselves are created when their first key is issued)."""
    start = log.ago(21)
    for (team, project), (display, description) in PROJECTS.items():
        lead = {"churn": "alice", "fraud": "bob"}.get(project, "carol")
        log.add(
            PROJECT, project, team, project, lead, start, "project_created",
            identity_pb2.ProjectCreated(display_name=display, description=description),
        )  # fmt: skip
    for person in PEOPLE:
        if person.portal_admin:
            continue
        for team in person.teams:
            role = (
                identity_pb2.MEMBER_ROLE_ADMIN
                if person.team_admin
                else identity_pb2.MEMBER_ROLE_MEMBER
            )
            log.add(
                TEAM, team, team, "", "alice" if team == "risk" else "carol", start + 1,
                "member_joined",
                identity_pb2.MemberJoined(
                    user_id=person.user_id, display_name=person.display_name,
                    email=f"{person.user_id}@example.com", role=role,
                ),
            )  # fmt: skip


_BASE_PACKAGES = {"numpy": "1.26.4", "pandas": "2.2.2", "scikit-learn": "1.5.0"}
_EARLY_STOP_DIFF = """--- a/train.py
+++ b/train.py
@@ -84,7 +84,8 @@ def main(args):
     dtrain = xgb.DMatrix(features.train, label=labels.train)
-    booster = xgb.train(params, dtrain, num_boost_round=args.rounds)
+    booster = xgb.train(params, dtrain, num_boost_round=args.rounds,
+                        evals=[(dval, "val")], early_stopping_rounds=40)
     booster.save_model(args.out)
"""


def _churn(log: EventLog, rng: np.random.Generator, store: Callable[[str, bytes], Stored]) -> None:
    raw = ("churn-raw", "s3://risk-data/churn/raw/2024-06", "2024-06")
    features = ("churn-features", "s3://risk-data/churn/features/v3", "v3")
    holdout = ("churn-holdout", "s3://risk-data/churn/holdout/2024-05", "2024-05")
    code = Code("4f3c2a9d1e0b8c7a6f5e4d3c2b1a09f8e7d6c5b4")
    env = Env({**_BASE_PACKAGES, "xgboost": "2.0.3"})
    common: dict[str, Any] = {"team": "risk", "project": "churn", "code": code, "env": env}
    add_run(
        log, rng, **common, name="build-features-v3", owner="bob", start_ns=log.ago(20),
        minutes=42, params={"window_days": 90, "min_events": 3}, tags={"stage": "features"},
        quality=0.5, steps=50, inputs=[raw], outputs=[features],
        description="Feature pipeline: 90-day usage windows, support tickets, billing events.",
    )  # fmt: skip
    baseline = store("baseline-logreg.pkl", b"logistic regression weights (demo)\n" * 40)
    add_run(
        log, rng, **common, name="baseline-logreg", owner="bob", start_ns=log.ago(18),
        minutes=12, params={"model": "logreg", "C": 1.0, "max_iter": 200},
        tags={"stage": "baseline"}, quality=0.82, steps=120, inputs=[features, holdout],
        artifacts=[baseline],
    )  # fmt: skip
    # Recorded as cairn.sweep records a grid sweep (cairn/sweep_record.py), so the Sweeps page
    # shows it.
    space = {"learning_rate": {"type": "categorical", "choices": [0.03, 0.1, 0.3]},
             "max_depth": {"type": "categorical", "choices": [4, 6, 8, 10]}}  # fmt: skip
    add_run(
        log, rng, **common, name="xgb-sweep-01", owner="alice", start_ns=log.ago(6, 2),
        minutes=300, params={record.STUDY_PARAM: "xgb-sweep-01", record.SAMPLER_PARAM: "GridSampler",
                             record.PRUNER_PARAM: "NopPruner", record.OBJECTIVES_PARAM: '["val/auc"]',
                             record.DIRECTIONS_PARAM: '["maximize"]', record.N_TRIALS_PARAM: 12,
                             record.SPACE_PARAM: record.space_json(space)},
        tags={"stage": "tuning", record.ROLE_TAG: record.ROLE_SWEEP},
        quality=0.6, steps=12, inputs=[features],
        description="Grid search over learning rate and depth; children are the trials.",
    )  # fmt: skip
    best = store("model.json", b'{"learner": "gbtree", "demo": true}\n' * 200)
    trial = 0
    for lr in (0.03, 0.1, 0.3):
        for depth in (4, 6, 8, 10):
            trial += 1
            is_best = (lr, depth) == (0.1, 6)
            quality = (
                0.912 if is_best else 0.86 + 0.04 * rng.random() - (0.02 if depth == 10 else 0)
            )
            status, state = runs_pb2.RUN_STATUS_FINISHED, "complete"
            if (lr, depth) == (0.3, 10):
                status, state = runs_pb2.RUN_STATUS_FAILED, "failed"
            elif (lr, depth) == (0.03, 10):
                status, state = runs_pb2.RUN_STATUS_KILLED, "failed"
            trial_code = Code(code.commit, _EARLY_STOP_DIFF) if lr == 0.1 else code
            trial_env = Env({**_BASE_PACKAGES, "xgboost": "2.1.0" if depth == 8 else "2.0.3"})
            add_run(
                log, rng, team="risk", project="churn", name=f"xgb-lr{lr}-d{depth}",
                owner="alice", start_ns=log.ago(6, 2) + trial * 20 * 60 * 10**9, minutes=18,
                params={"model": "xgboost", "learning_rate": lr, "max_depth": depth,
                        "subsample": 0.8, "rounds": 300},
                tags={"stage": "tuning", record.ROLE_TAG: record.ROLE_TRIAL,
                      record.TRIAL_TAG: str(trial - 1), record.STATE_TAG: state},
                quality=quality, steps=300,
                code=trial_code, env=trial_env, inputs=[features, holdout],
                artifacts=[best] if is_best else [], status=status, parent="xgb-sweep-01",
                sweep=log.run_ids["xgb-sweep-01"],
            )  # fmt: skip


FORK_NAME = (
    "effnet-b3-lowlr"  # the demo's fork (and rewind): tests/ui (vision, so risk's counts stay)
)


def _fork_and_rewind(log: EventLog, rng: np.random.Generator) -> None:
    """Dave forked his EfficientNet run at step 1,000 to go on with a lower learning rate (the
    parent's points up to 1,000 and its params copied as the fork's own, as
    ``cairn.init(fork_from=...)`` does); the first attempt diverged after step 1,200, so he
    resumed the run with ``rewind_to=1200``."""
    parent_name, fork_step, rewind_step, last_step = "effnet-b3", 1000, 1200, 1500
    parent = log.run_ids[parent_name]
    mine = [e for e in log.events if e.envelope.aggregate_id == parent]
    inherited = [
        metrics_pb2.MetricSeries(
            key=s.key,
            steps=[x for x in s.steps if x <= fork_step],
            values=[v for x, v in zip(s.steps, s.values, strict=True) if x <= fork_step],
            timestamps_ns=[
                t for x, t in zip(s.steps, s.timestamps_ns, strict=True) if x <= fork_step
            ],
        )
        for e in mine
        if e.WhichOneof("payload") == "metrics"
        for s in e.metrics.series
    ]
    params = [
        p for e in mine if e.WhichOneof("payload") == "params_set" for p in e.params_set.params
    ]
    params = [p for p in params if p.key != "lr"] + [param("lr", 1e-4)]
    start = log.ago(1)
    run_id = new_uuid7(start)
    log.run_ids[FORK_NAME] = run_id

    def emit(at: int, field: str, message: object) -> None:
        log.add(RUN, run_id, "vision", "defects", "dave", at, field, message)

    emit(start, "run_created", runs_pb2.RunCreated(
        name=FORK_NAME, owner="dave", host="gpu-node-1", started_at_ns=start,
        command_line=["python", "train.py", "--lr=0.0001"],
        description="EfficientNet-B3 from step 1,000 with a ten times lower learning rate.",
    ))  # fmt: skip
    points = sum(len(s.steps) for s in inherited)
    emit(start, "run_forked", runs_pb2.RunForked(
        parent_run_id=parent, fork_step=fork_step, inherited_points=points
    ))  # fmt: skip
    emit(start + 1, "params_set", runs_pb2.ParamsSet(params=params))
    emit(
        start + 2, "tags_set", runs_pb2.TagsSet(tags=[runs_pb2.Tag(key="stage", value="finetune")])
    )
    emit(start + 3, "metrics", metrics_pb2.MetricBatch(series=inherited))
    last = {s.key: s.values[-1] for s in inherited}

    def value(key: str, base: float, step: int, diverging: bool) -> float:
        """Slowly better from the fork step on; the first attempt blows up after the rewind
        step (losses up, everything else down)."""
        change = -0.00002 * (step - fork_step)
        if diverging and step > rewind_step:
            change += 0.002 * (step - rewind_step)
        return base + change * (1 if "loss" in key else -1) + float(rng.normal(0, 0.002))

    def segment(at: int, steps: range, diverging: bool) -> None:
        times = [at + i * 10**9 for i in range(len(steps))]
        emit(at, "metrics", metrics_pb2.MetricBatch(series=[
            metrics_pb2.MetricSeries(
                key=key, steps=list(steps), timestamps_ns=times,
                values=[value(key, base, s, diverging) for s in steps],
            )
            for key, base in last.items() if key != "lr"
        ]))  # fmt: skip

    segment(start + HOUR, range(fork_step + 1, rewind_step + 101), True)  # diverges after 1,200
    emit(start + 2 * HOUR, "run_status_changed", runs_pb2.RunStatusChanged(
        status=runs_pb2.RUN_STATUS_KILLED, reason="loss diverged"))  # fmt: skip
    again = start + 3 * HOUR
    emit(again, "run_resumed", runs_pb2.RunResumed(host="gpu-node-1", resumed_at_ns=again))
    emit(again, "run_rewound", runs_pb2.RunRewound(to_step=rewind_step))
    segment(again + 1, range(rewind_step + 1, last_step + 1), False)
    emit(again + 4 * HOUR, "run_status_changed",
         runs_pb2.RunStatusChanged(status=runs_pb2.RUN_STATUS_FINISHED))  # fmt: skip


def _fraud_and_vision(log: EventLog, rng: np.random.Generator) -> None:
    code = Code(
        "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678", remote="git@github.com:example/fraud.git"
    )
    env = Env({**_BASE_PACKAGES, "lightgbm": "4.3.0"})
    tx = ("transactions", "s3://risk-data/fraud/tx/2024-06", "2024-06")
    for i, (name, days, status) in enumerate(
        (("iforest-baseline", 9.0, runs_pb2.RUN_STATUS_FINISHED),
         ("lgbm-v1", 5.0, runs_pb2.RUN_STATUS_FINISHED),
         ("lgbm-v2-focal", 3.0, runs_pb2.RUN_STATUS_FINISHED),
         ("lgbm-v3-nightly", 0.2, runs_pb2.RUN_STATUS_RUNNING))
    ):  # fmt: skip
        add_run(
            log, rng, team="risk", project="fraud", name=name, owner="bob", start_ns=log.ago(days),
            minutes=25, params={"model": name.split("-")[0], "num_leaves": 31 + 16 * i,
                                 "learning_rate": 0.05}, tags={"stage": "experiment"},
            quality=0.8 + 0.03 * i, steps=200, code=code, env=env, inputs=[tx], status=status,
        )  # fmt: skip
    vcode = Code(
        "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c", remote="git@github.com:example/vision.git"
    )
    venv = Env({"torch": "2.3.1", "torchvision": "0.18.1", "numpy": "1.26.4"}, gpu=True)
    welds = ("weld-images", "s3://vision-data/welds/2024-05", "2024-05")
    common: dict[str, Any] = {
        "team": "vision",
        "project": "defects",
        "code": vcode,
        "env": venv,
        "inputs": [welds],
    }
    add_run(
        log, rng, **common, name="resnet50-finetune", owner="carol", start_ns=log.ago(4),
        minutes=240, params={"backbone": "resnet50", "folds": 3, "lr": 3e-4, "batch_size": 64,
        "optimizer": "adamw"},
        tags={"stage": "cv"}, quality=0.7, steps=30,
        description="3-fold cross-validation of a fine-tuned ResNet-50.",
    )  # fmt: skip
    for fold in range(3):
        add_run(
            log, rng, **common, name=f"resnet50-fold{fold}", owner="carol",
            start_ns=log.ago(4) + fold * HOUR, minutes=70, params={"backbone": "resnet50",
            "fold": fold, "lr": 3e-4, "batch_size": 64, "optimizer": "adamw"}, tags={"stage": "cv"},
            quality=0.88 + 0.01 * fold, steps=2000, parent="resnet50-finetune",
        )  # fmt: skip
    add_run(
        log, rng, **common, name="effnet-b3", owner="dave", start_ns=log.ago(2), minutes=90,
        params={"backbone": "efficientnet_b3", "lr": 1e-3, "batch_size": 32, "optimizer": "sgd"},
        tags={"stage": "experiment"}, quality=0.9, steps=1500,
    )  # fmt: skip


def _model(log: EventLog, store: Callable[[str, bytes], Stored]) -> None:
    model = "churn-classifier"

    def emit(at: int, person: str, field: str, message: object) -> None:
        log.add(MODEL, model, "risk", "churn", person, at, field, message)

    best = log.run_ids["xgb-lr0.1-d6"]
    baseline = log.run_ids["baseline-logreg"]
    emit(log.ago(17), "bob", "model_registered", models_pb2.ModelRegistered(
        name=model, description="Churn propensity score used by the retention campaign."))  # fmt: skip
    base_file = store("baseline-logreg.pkl", b"logistic regression weights (demo)\n" * 40)
    emit(log.ago(17), "bob", "model_version_created", models_pb2.ModelVersionCreated(
        version=1, run_id=baseline, artifact_name=base_file.name, artifact_uri=base_file.uri,
        artifact_sha256=base_file.sha256, description="Logistic-regression baseline."))  # fmt: skip
    emit(log.ago(16), "bob", "model_version_stage_changed", models_pb2.ModelVersionStageChanged(
        version=1, stage=models_pb2.MODEL_STAGE_PRODUCTION, reason="first model for the campaign"))  # fmt: skip
    best_file = store("model.json", b'{"learner": "gbtree", "demo": true}\n' * 200)
    emit(log.ago(4), "alice", "model_version_created", models_pb2.ModelVersionCreated(
        version=2, run_id=best, artifact_name=best_file.name, artifact_uri=best_file.uri,
        artifact_sha256=best_file.sha256, description="XGBoost, lr 0.1, depth 6, early stopping."))  # fmt: skip
    emit(log.ago(3, 20), "alice", "model_version_stage_changed", models_pb2.ModelVersionStageChanged(
        version=2, stage=models_pb2.MODEL_STAGE_STAGING, reason="shadow scoring for 48 h"))  # fmt: skip
    emit(log.ago(2, 2), "alice", "model_version_stage_changed", models_pb2.ModelVersionStageChanged(
        version=2, stage=models_pb2.MODEL_STAGE_PRODUCTION, reason="AUC +0.09 over v1 in shadow"))  # fmt: skip
    emit(log.ago(2, 2), "alice", "model_version_stage_changed", models_pb2.ModelVersionStageChanged(
        version=1, stage=models_pb2.MODEL_STAGE_ARCHIVED, reason="replaced by v2"))  # fmt: skip
    emit(log.ago(2, 2), "alice", "model_alias_set", models_pb2.ModelAliasSet(
        alias="champion", version=2, reason="current production model"))  # fmt: skip
    # The training data's origin, recorded explicitly on the model: v2 used the holdout set.
    node = lineage_pb2.LineageNode
    emit(log.ago(4), "alice", "lineage_edge_recorded", lineage_pb2.LineageEdgeRecorded(
        source=node(kind=lineage_pb2.LINEAGE_NODE_KIND_MODEL_VERSION, id=model, version=2),
        relation=lineage_pb2.LINEAGE_RELATION_BUILT_BY,
        target=node(kind=lineage_pb2.LINEAGE_NODE_KIND_RUN, id=best)))  # fmt: skip


def _talk(log: EventLog) -> None:
    """Comments, a decision, a share, notes and Bob's handover."""
    best = log.run_ids["xgb-lr0.1-d6"]
    c = collaboration_pb2

    def on_run(run: str, person: str, at: int, field: str, message: object) -> None:
        log.add(RUN, run, "risk", "churn", person, at, field, message)

    first, reply, removed = (
        new_uuid7(log.ago(5)),
        new_uuid7(log.ago(5, -1)),
        new_uuid7(log.ago(5, -2)),
    )
    on_run(best, "alice", log.ago(5), "comment_added", c.CommentAdded(
        comment_id=first, mentions=["bob"], anchor=c.MetricAnchor(metric_key="val/loss", step_min=220, step_max=299),
        body_markdown="Validation loss turns up after step **220**: early stopping at ~200 would save "
        "a third of the compute. @bob does the `early_stopping_rounds` branch do that?"))  # fmt: skip
    on_run(best, "bob", log.ago(4, 23), "comment_added", c.CommentAdded(
        comment_id=reply, reply_to=first,
        body_markdown="It does — 40 rounds of patience on `val`. See the diff in the Code tab."))  # fmt: skip
    on_run(best, "bob", log.ago(4, 22), "comment_edited", c.CommentEdited(
        comment_id=reply,
        body_markdown="It does: **40 rounds** of patience on `val`. See the diff in the *Code* tab."))  # fmt: skip
    on_run(best, "dave", log.ago(4, 21), "comment_added", c.CommentAdded(
        comment_id=removed, body_markdown="Is this the run with the leaked label column?"))  # fmt: skip
    on_run(best, "dave", log.ago(4, 20), "comment_deleted", c.CommentDeleted(
        comment_id=removed, reason="wrong run, sorry"))  # fmt: skip
    on_run(best, "alice", log.ago(4, 1), "resource_shared", c.ResourceShared(
        grantee=c.Principal(kind=c.PRINCIPAL_KIND_TEAM, id="vision"), access=c.ACCESS_LEVEL_VIEW,
        note="for the model-review guild"))  # fmt: skip
    failed = log.run_ids["xgb-lr0.3-d10"]
    on_run(failed, "alice", log.ago(5, 3), "comment_added", c.CommentAdded(
        comment_id=new_uuid7(log.ago(5, 3)),
        body_markdown="OOM at depth 10 with lr 0.3; not worth a bigger GPU, depth 6 wins anyway."))  # fmt: skip

    def on_project(
        team: str, project: str, person: str, at: int, field: str, message: object
    ) -> None:
        log.add(PROJECT, project, team, project, person, at, field, message)

    on_project("risk", "churn", "alice", log.ago(3), "decision_recorded", c.DecisionRecorded(
        decision_id=new_uuid7(log.ago(3)), title="Ship xgb-lr0.1-d6 as churn-classifier v2",
        body_markdown="Best validation AUC (0.91) of the sweep, stable across folds, and 12 ms p99 "
        "scoring latency. Baseline v1 is archived once v2 has run 48 h in shadow.",
        run_ids=[best, log.run_ids["baseline-logreg"]]))  # fmt: skip
    on_project("risk", "churn", "alice", log.ago(10), "project_notes_set", c.ProjectNotesSet(
        body_markdown="# Customer churn\n\nPredicts cancellation within **60 days**.\n\n"
        "- Features: `build-features-v3` (90-day windows)\n- Model: `churn-classifier` "
        "(production alias `champion`)\n- Owner: Alice (since Bob's handover)\n\n"
        "Retrain monthly; compare against the holdout set `churn-holdout`."))  # fmt: skip
    kickoff = new_uuid7(log.ago(19))
    on_project("risk", "churn", "bob", log.ago(19), "comment_added", c.CommentAdded(
        comment_id=kickoff, mentions=["alice"],
        body_markdown="Features v3 are in `s3://risk-data/churn/features/v3`: 90-day windows, "
        "support tickets and billing events. @alice the holdout set is the May cohort."))  # fmt: skip
    on_project("risk", "churn", "alice", log.ago(18, 20), "comment_added", c.CommentAdded(
        comment_id=new_uuid7(log.ago(18, 20)), reply_to=kickoff,
        body_markdown="Thanks! I will run a grid over learning rate and depth next week."))  # fmt: skip
    on_project("vision", "defects", "carol", log.ago(3), "comment_added", c.CommentAdded(
        comment_id=new_uuid7(log.ago(3)),
        body_markdown="Fold 2 is consistently best; @dave can you try EfficientNet-B3 on it?"))  # fmt: skip
    log.add(MODEL, "churn-classifier", "risk", "churn", "dave", log.ago(1, 5), "comment_added",
        c.CommentAdded(comment_id=new_uuid7(log.ago(1, 5)),
        body_markdown="Scoring service p99 latency with v2: **12 ms** (v1: 9 ms). Fine for the campaign."))  # fmt: skip
    # Bob leaves: his project and pipeline go to Alice; his fraud runs stay his ("owner left").
    reason = "Bob is leaving the company; Alice takes over churn"
    on_project("risk", "churn", "alice", log.ago(2), "ownership_transferred", c.OwnershipTransferred(
        from_user="bob", to_user="alice", reason=reason))  # fmt: skip
    for name in ("build-features-v3", "baseline-logreg"):
        on_run(log.run_ids[name], "alice", log.ago(2), "ownership_transferred",
               c.OwnershipTransferred(from_user="bob", to_user="alice", reason=reason))  # fmt: skip
    log.add(MODEL, "churn-classifier", "risk", "churn", "alice", log.ago(2), "ownership_transferred",
        c.OwnershipTransferred(from_user="bob", to_user="alice", reason=reason))  # fmt: skip
    log.add(TEAM, "risk", "risk", "", "alice", log.ago(1, 12), "member_left",
        identity_pb2.MemberLeft(user_id="bob", reason="left the company"))  # fmt: skip


def build_demo(now_ns: int, store: Callable[[str, bytes], Stored]) -> EventLog:
    """Every demo event, in causal order, with times relative to ``now_ns``."""
    log = EventLog(now_ns)
    rng = np.random.default_rng(7)
    _identity(log)
    _churn(log, rng, store)
    _fraud_and_vision(log, rng)
    _fork_and_rewind(log, rng)
    _model(log, store)
    _talk(log)
    return log
