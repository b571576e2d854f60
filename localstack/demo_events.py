"""The building blocks of the demo (:mod:`localstack.demo`): its people, an ordered log of events
as a real team would cause them (:class:`EventLog`), and a whole run's events (:func:`add_run`),
with plausible training curves. The story told with them is :mod:`localstack.demo_story`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cairn_contract.envelopes import new_envelope
from cairn_contract.ids import new_uuid7
from cairn_contract.v1 import (
    common_pb2,
    envelope_pb2,
    events_pb2,
    metrics_pb2,
    provenance_pb2,
    runs_pb2,
)

DAY = 86_400 * 10**9
HOUR = 3_600 * 10**9
RUN = envelope_pb2.AGGREGATE_KIND_RUN
PROJECT = envelope_pb2.AGGREGATE_KIND_PROJECT
MODEL = envelope_pb2.AGGREGATE_KIND_MODEL
TEAM = envelope_pb2.AGGREGATE_KIND_TEAM


@dataclass(frozen=True)
class Person:
    user_id: str
    display_name: str
    teams: tuple[str, ...]
    team_admin: bool = False
    portal_admin: bool = False


PEOPLE = (
    Person("alice", "Alice Moreau", ("risk",), team_admin=True),
    Person("bob", "Bob Okafor", ("risk",)),
    Person("carol", "Carol Lin", ("vision",), team_admin=True),
    Person("dave", "Dave Singh", ("vision", "risk")),
    Person("admin", "Portal Admin", ("risk", "vision"), portal_admin=True),
)


class EventLog:
    """Collects the demo's events in the order a real team would have caused them."""

    def __init__(self, now_ns: int) -> None:
        self.now = now_ns
        self.events: list[events_pb2.Event] = []
        self._sequence: dict[str, int] = {}
        self.run_ids: dict[str, str] = {}

    def add(
        self,
        kind: int,
        aggregate_id: str,
        team: str,
        project: str,
        person: str,
        at_ns: int,
        field: str,
        message: object,
    ) -> events_pb2.Event:
        sequence = 0
        if kind == RUN:
            sequence = self._sequence.get(aggregate_id, 0) + 1
            self._sequence[aggregate_id] = sequence
        event = events_pb2.Event(
            envelope=new_envelope(
                kind,  # type: ignore[arg-type]
                aggregate_id,
                team=team,
                project=project,
                sequence=sequence,
                occurred_at_ns=at_ns,
                actor=envelope_pb2.Actor(on_behalf_of=person),
            )
        )
        getattr(event, field).CopyFrom(message)
        self.events.append(event)
        return event

    def ago(self, days: float, hours: float = 0) -> int:
        return self.now - int(days * DAY) - int(hours * HOUR)


def param(key: str, value: float | int | str | bool) -> runs_pb2.Param:
    param = runs_pb2.Param(key=key)
    if isinstance(value, bool):
        param.value.bool_value = value
    elif isinstance(value, int):
        param.value.int_value = value
    elif isinstance(value, float):
        param.value.double_value = value
    else:
        param.value.string_value = value
    return param


def digest(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


def training_curves(
    rng: np.random.Generator, steps: int, quality: float, noise: float = 0.02
) -> dict[str, np.ndarray]:
    """Plausible training curves: losses falling towards a floor set by ``quality``."""
    x = np.arange(steps, dtype=np.float64)
    floor = 0.25 + (1 - quality) * 0.6
    train = floor + 0.9 * np.exp(-x / (steps / 5)) + rng.normal(0, noise, steps)
    val = floor + 0.05 + 0.9 * np.exp(-x / (steps / 4)) + rng.normal(0, noise * 1.5, steps)
    val += np.clip(x - steps * 0.73, 0, None) / steps * 0.5  # late overfitting
    auc = quality - 0.35 * np.exp(-x / (steps / 6)) + rng.normal(0, noise / 3, steps)
    lr = 0.5 * (1 + np.cos(np.pi * x / steps))
    return {"train/loss": train, "val/loss": val, "val/auc": np.clip(auc, 0, 1), "lr": lr}


@dataclass(frozen=True)
class Code:
    commit: str
    diff: str = ""
    branch: str = "main"
    remote: str = "git@github.com:example/risk-models.git"


@dataclass(frozen=True)
class Stored:
    """A file put into the artifact store (so the portal can offer it for download)."""

    name: str
    sha256: str
    uri: str
    size: int


@dataclass(frozen=True)
class Env:
    packages: dict[str, str]
    gpu: bool = False
    image: str = "ghcr.io/example/train:2024.06"


def add_run(
    log: EventLog,
    rng: np.random.Generator,
    *,
    team: str,
    project: str,
    name: str,
    owner: str,
    start_ns: int,
    minutes: float,
    params: dict[str, float | int | str | bool],
    tags: dict[str, str],
    quality: float,
    steps: int,
    code: Code,
    env: Env,
    inputs: Sequence[tuple[str, str, str]] = (),
    outputs: Sequence[tuple[str, str, str]] = (),
    artifacts: Sequence[Stored] = (),
    status: int = runs_pb2.RUN_STATUS_FINISHED,
    parent: str = "",
    sweep: str = "",
    description: str = "",
) -> str:
    """One run's events, as the SDK would send them; returns the run id."""
    run_id = new_uuid7(start_ns)
    log.run_ids[name] = run_id
    end_ns = start_ns + int(minutes * 60e9)

    def emit(at: int, field: str, message: object) -> None:
        log.add(RUN, run_id, team, project, owner, at, field, message)

    host = f"{'gpu' if env.gpu else 'cpu'}-node-{rng.integers(1, 9)}"
    emit(
        start_ns,
        "run_created",
        runs_pb2.RunCreated(
            name=name,
            owner=owner,
            parent_run_id=log.run_ids.get(parent, ""),
            sweep_id=sweep,
            host=host,
            command_line=["python", "train.py", *(f"--{k}={v}" for k, v in params.items())],
            started_at_ns=start_ns,
            description=description,
        ),
    )
    emit(
        start_ns + 1,
        "params_set",
        runs_pb2.ParamsSet(params=[param(k, v) for k, v in params.items()]),
    )
    emit(
        start_ns + 2,
        "tags_set",
        runs_pb2.TagsSet(tags=[runs_pb2.Tag(key=k, value=v) for k, v in tags.items()]),
    )
    emit(
        start_ns + 3,
        "code_version_recorded",
        provenance_pb2.CodeVersionRecorded(
            git_remote=code.remote,
            branch=code.branch,
            commit=code.commit,
            dirty=bool(code.diff),
            diff=code.diff,
            diff_sha256=digest(code.diff) if code.diff else "",
            entry_point="train.py",
        ),
    )
    emit(
        start_ns + 4,
        "environment_recorded",
        provenance_pb2.EnvironmentRecorded(
            python_version="3.11.9",
            python_implementation="CPython",
            os="Linux",
            os_version="6.1.0-21-amd64",
            cpu_model="AMD EPYC 7B13",
            cpu_count=16,
            memory_bytes=64 << 30,
            gpus=[provenance_pb2.Gpu(name="NVIDIA A10G", memory_bytes=24 << 30)] if env.gpu else [],
            cuda_version="12.1" if env.gpu else "",
            packages=[provenance_pb2.Package(name=n, version=v) for n, v in env.packages.items()],
            container_image=env.image,
            container_digest="sha256:" + digest(env.image + str(sorted(env.packages.items()))),
            hostname=host,
        ),
    )
    for role, datasets in (
        (common_pb2.DATA_ROLE_INPUT, inputs),
        (common_pb2.DATA_ROLE_OUTPUT, outputs),
    ):
        for data_name, uri, version in datasets:
            emit(
                start_ns + 5,
                "dataset_recorded",
                provenance_pb2.DatasetRecorded(
                    name=data_name,
                    uri=uri,
                    digest="sha256:" + digest(uri + version),
                    size_bytes=int(rng.integers(50, 900)) << 20,
                    manifest_digest="sha256:" + digest("manifest" + uri + version),
                    file_count=int(rng.integers(4, 64)),
                    role=role,
                    version=version,
                ),
            )
    done = steps if status == runs_pb2.RUN_STATUS_FINISHED else int(steps * 0.6)
    curves = training_curves(rng, steps, quality)
    if team == "vision":  # image classifiers report accuracy (docs/sql.md queries 1, 2, 6 use it)
        curves["val_acc"] = np.clip(curves["val/auc"] - 0.04, 0, 1)
    times = np.linspace(start_ns, end_ns, steps).astype(np.int64)[:done]
    emit(
        end_ns - 3,
        "metrics",
        metrics_pb2.MetricBatch(
            series=[
                metrics_pb2.MetricSeries(
                    key=key,
                    steps=list(range(done)),
                    values=values[:done].tolist(),
                    timestamps_ns=times.tolist(),
                )
                for key, values in curves.items()
            ]
        ),
    )
    samples = np.linspace(start_ns, end_ns, 60).astype(np.int64).tolist()
    system = [
        (metrics_pb2.SYSTEM_METRIC_CPU_PERCENT, "", 55 + rng.normal(0, 12, 60)),
        (metrics_pb2.SYSTEM_METRIC_MEMORY_PERCENT, "", 40 + np.linspace(0, 25, 60)),
    ]
    if env.gpu:
        system.append(
            (metrics_pb2.SYSTEM_METRIC_GPU_UTILIZATION_PERCENT, "gpu0", 85 + rng.normal(0, 6, 60))
        )
    emit(
        end_ns - 2,
        "system_metrics",
        metrics_pb2.SystemMetricBatch(
            series=[
                metrics_pb2.SystemMetricSeries(
                    metric=metric,
                    device=device,
                    timestamps_ns=samples,
                    values=np.clip(v, 0, 100).tolist(),
                )
                for metric, device, v in system
            ]
        ),
    )
    for stored in artifacts:
        emit(
            end_ns - 1,
            "artifact_logged",
            provenance_pb2.ArtifactLogged(
                name=stored.name,
                kind=provenance_pb2.ARTIFACT_KIND_MODEL,
                uri=stored.uri,
                sha256=stored.sha256,
                size_bytes=stored.size,
                role=common_pb2.DATA_ROLE_OUTPUT,
                metadata=[common_pb2.KeyValue(key="framework", value="xgboost")],
            ),
        )
    if status != runs_pb2.RUN_STATUS_RUNNING:
        failed = status == runs_pb2.RUN_STATUS_FAILED
        emit(
            end_ns,
            "run_status_changed",
            runs_pb2.RunStatusChanged(
                status=status,  # type: ignore[arg-type]
                reason="CUDA out of memory" if failed else "",
                exit_code=137 if failed else 0,
                traceback=(
                    'Traceback (most recent call last):\n  File "train.py", line 88, in <module>\n'
                    "    booster = xgb.train(params, dtrain)\nMemoryError: CUDA out of memory"
                )
                if failed
                else "",
            ),
        )
    return run_id
