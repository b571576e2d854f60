"""Import an MLflow tracking store into Cairn: :func:`import_mlflow`, ``cairn import mlflow``.

Reads through the real MLflow client (``pip install 'cairn-sdk[mlflow]'``), so a file store
(``mlruns/`` or ``file:///...``), a database URI and a running ``mlflow server``
(``http://host:port``) all work. Mapping:

- experiment -> project (its name made a slug: ``Churn Model`` -> ``churn-model``);
- run -> run with a Cairn id derived from the MLflow run id (:func:`run_id_for`), so links and
  re-imports name the same run; the MLflow id is kept as the tag ``mlflow.run_id`` and every
  MLflow tag (``mlflow.user``, ``mlflow.source.name``, ...) is kept as it was;
- params -> params (MLflow's are text); every metric point -> a metric point with its step and
  timestamp (a step MLflow recorded twice keeps the later value: Cairn holds one per step);
- status FINISHED/FAILED/KILLED -> finished/failed/killed, RUNNING is left running; the start
  time becomes the run's start, the end time the tag ``mlflow.end_time`` (ms);
- ``mlflow.parentRunId`` -> the nested run's parent;
- each top-level artifact (file or directory) -> an artifact of the same name, copied into the
  artifact store and digested (sha256; directories as a manifest);
- registered models -> models of Cairn's registry: versions in MLflow's order, with the run and
  artifact their ``source`` names, tags ``mlflow.version`` and ``mlflow.source``; aliases.

Importing twice adds nothing: runs the query service already knows are skipped; model versions
already imported (the ``mlflow.version`` tag) and aliases already in place are not sent again.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from cairn._framework_values import safe_key
from cairn._importing import (
    ORIGINAL_ID_TAG,
    SOURCE_TAG,
    ImportSummary,
    Progress,
    derived_run_id,
    run_exists,
    start_imported_run,
)
from cairn.config import Settings, resolve_settings
from cairn.errors import AlreadyExistsError, NotFoundError, ValidationError
from cairn.run import Status

try:
    from mlflow.entities import ViewType
    from mlflow.environment_variables import MLFLOW_ALLOW_FILE_STORE
    from mlflow.tracking import MlflowClient
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("cairn import mlflow needs MLflow: pip install 'cairn-sdk[mlflow]'") from exc

__all__ = ["import_mlflow", "project_for", "run_id_for"]

SOURCE = "mlflow"
RUN_ID_TAG = "mlflow.run_id"
VERSION_TAG = "mlflow.version"
PARENT_TAG = "mlflow.parentRunId"
_STATUS: dict[str, Status] = {"FINISHED": "finished", "FAILED": "failed", "KILLED": "killed"}
_NOT_SLUG = re.compile(r"[^a-z0-9_-]+")
_VISIBLE_WAIT_S = 90.0


def project_for(experiment_name: str) -> str:
    """An MLflow experiment name as a Cairn project slug (``/Users/me/Churn`` -> ``users-me-churn``)."""
    slug = _NOT_SLUG.sub("-", experiment_name.lower()).strip("-_")
    return slug[:64].rstrip("-_") or "default"


def run_id_for(mlflow_run_id: str, start_time_ms: int | None) -> str:
    return derived_run_id(SOURCE, mlflow_run_id, (start_time_ms or 0) / 1000)


@dataclass(frozen=True, slots=True)
class _Planned:
    run: Any  # mlflow.entities.Run
    project: str
    cairn_id: str
    parent_id: str


def import_mlflow(
    tracking_uri: str,
    *,
    experiments: Sequence[str] = (),
    dry_run: bool = False,
    settings: Settings | None = None,
    progress: Callable[[int, str], Progress] | None = None,
) -> ImportSummary:
    """Import the named experiments (all active ones when none are named) and every registered
    model whose versions came from their runs. Returns what was (or would be) imported."""
    file_store = "://" not in tracking_uri or tracking_uri.startswith("file:")
    if file_store and not MLFLOW_ALLOW_FILE_STORE.defined:
        # MLflow 3 refuses to open a file store (``mlruns/``) unless its switch is on; reading
        # one is exactly what an import of an older installation needs. (MLflow's own setting,
        # set through its API; nothing of Cairn's is read from the environment here.)
        MLFLOW_ALLOW_FILE_STORE.set("true")  # type: ignore[no-untyped-call]
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    base = settings or resolve_settings({})
    summary = ImportSummary(f"mlflow {tracking_uri}", dry_run=dry_run)
    planned = _plan(client, experiments)
    make_progress = progress or (lambda total, unit: Progress(total, unit))
    bar = make_progress(len(planned), "runs")
    for item in planned:
        target = replace(base, project=item.project)
        if _already(target, item.cairn_id):
            summary.skipped += 1
        else:
            _import_run(client, item, target, summary, dry_run)
        bar.step(item.run.info.run_name or item.run.info.run_id)
    by_mlflow_id = {item.run.info.run_id: item for item in planned}
    _import_registry(client, by_mlflow_id, base, summary, dry_run)
    return summary


def _plan(client: MlflowClient, names: Sequence[str]) -> list[_Planned]:
    found = list(client.search_experiments(view_type=ViewType.ACTIVE_ONLY))
    if names:
        by_name = {e.name: e for e in found}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise NotFoundError(
                f"experiment: no MLflow experiment named {missing[0]!r} (rule exists)",
                field="experiment",
                rule="exists",
            )
        found = [by_name[n] for n in names]
    runs: list[tuple[Any, str]] = []
    for experiment in found:
        project = project_for(experiment.name)
        token = None
        while True:
            page = client.search_runs(
                [experiment.experiment_id], max_results=1000, page_token=token
            )
            runs.extend((run, project) for run in page)
            token = page.token
            if not token:
                break
    ids = {run.info.run_id: run_id_for(run.info.run_id, run.info.start_time) for run, _ in runs}
    planned = [
        _Planned(run, project, ids[run.info.run_id], ids.get(run.data.tags.get(PARENT_TAG, ""), ""))
        for run, project in runs
    ]
    # Parents first, then by start: a nested run names a parent that already exists.
    return sorted(planned, key=lambda p: (bool(p.parent_id), p.run.info.start_time or 0))


def _already(settings: Settings, run_id: str) -> bool:
    return run_exists(settings, run_id)


def _import_run(
    client: MlflowClient, item: _Planned, settings: Settings, summary: ImportSummary, dry: bool
) -> None:
    info, data = item.run.info, item.run.data
    histories = {key: client.get_metric_history(info.run_id, key) for key in sorted(data.metrics)}
    artifacts = client.list_artifacts(info.run_id)
    points = sum(len({m.step for m in history}) for history in histories.values())
    tags = {safe_key(k): v for k, v in data.tags.items()}
    tags.update({SOURCE_TAG: SOURCE, ORIGINAL_ID_TAG: info.run_id, RUN_ID_TAG: info.run_id})
    if info.end_time:
        tags["mlflow.end_time"] = str(info.end_time)
    if dry:
        summary.imported += 1
        summary.points += points
        summary.params += len(data.params)
        summary.artifacts += len(artifacts)
        return
    try:
        run = start_imported_run(
            settings,
            run_id=item.cairn_id,
            name=info.run_name or info.run_id,
            config={safe_key(k): v for k, v in data.params.items()},
            tags=tags,
            parent_id=item.parent_id,
            started_at_ns=(info.start_time or 0) * 1_000_000 or None,
        )
    except AlreadyExistsError:  # started on this machine moments ago, not yet projected
        summary.skipped += 1
        return
    for key, history in histories.items():
        last: dict[int, Any] = {}
        for point in sorted(history, key=lambda m: (m.step, m.timestamp)):
            last[int(point.step)] = point
        steps = sorted(last)
        run.log_series(
            safe_key(key),
            steps,
            [float(last[s].value) for s in steps],
            [int(last[s].timestamp) * 1_000_000 for s in steps],
        )
    with tempfile.TemporaryDirectory(prefix="cairn-mlflow-") as scratch:
        for entry in artifacts:
            local = client.download_artifacts(info.run_id, entry.path, scratch)
            kind = "model" if _is_model(Path(local)) else "other"
            run.log_artifact(local, name=entry.path, kind=kind)
    status = _STATUS.get(info.status)
    if status is None:
        run.detach()
    else:
        run.finish(status)
    summary.imported += 1
    summary.points += points
    summary.params += len(data.params)
    summary.artifacts += len(artifacts)


def _is_model(path: Path) -> bool:
    return path.is_dir() and (path / "MLmodel").exists()


def _artifact_name(source: str, mlflow_run_id: str) -> str | None:
    """The top-level artifact a model version's ``source`` points into (``runs:/ID/model``,
    ``.../ID/artifacts/model``), or None when it lies outside the run's artifacts."""
    if source.startswith("runs:/"):
        rest = source[len("runs:/") :].split("/", 1)
        return rest[1].strip("/").split("/")[0] if len(rest) == 2 and rest[1].strip("/") else None
    marker = f"{mlflow_run_id}/artifacts/"
    if marker in source:
        return source.split(marker, 1)[1].strip("/").split("/")[0] or None
    return None


def _import_registry(
    client: MlflowClient,
    runs: dict[str, _Planned],
    base: Settings,
    summary: ImportSummary,
    dry: bool,
) -> None:
    from cairn import models
    from cairn._registry import append, model_event
    from cairn.v1 import models_pb2

    for registered in client.search_registered_models():
        versions = sorted(
            client.search_model_versions(f"name='{registered.name}'"), key=lambda v: int(v.version)
        )
        mine = [v for v in versions if v.run_id and v.run_id in runs]
        if not mine:
            continue
        first = runs[mine[0].run_id or ""]
        settings = replace(base, project=first.project)
        existing = {} if dry else _existing_versions(settings, registered.name)
        numbers: dict[int, int] = {}
        for version in mine:
            mlflow_version = int(version.version)
            if mlflow_version in existing:
                numbers[mlflow_version] = existing[mlflow_version]
                continue
            artifact = _artifact_name(version.source or "", version.run_id or "")
            if artifact is None:
                summary.notes.append(
                    f"model {registered.name} version {mlflow_version}: source {version.source!r}"
                    " is not among its run's artifacts; not imported"
                )
                continue
            summary.model_versions += 1
            if dry:
                continue
            run_id = runs[version.run_id or ""].cairn_id
            _until_artifact_visible(settings, run_id, artifact)
            sha256, uri = _reads(settings).artifact(run_id, artifact)
            created = models._register(
                settings,
                run_id=run_id,
                artifact_name=artifact,
                sha256=sha256,
                uri=uri,
                name=registered.name,
                aliases=(),
                description=version.description or "",
                tags={VERSION_TAG: str(mlflow_version), "mlflow.source": version.source or ""},
            )
            numbers[mlflow_version] = created.version
        aliases = getattr(registered, "aliases", None) or {}
        for alias, mlflow_version in sorted(dict(aliases).items()):
            target = numbers.get(int(mlflow_version))
            if target is None and not dry:
                continue
            if not dry and _alias_in_place(settings, registered.name, alias, target):
                continue
            summary.aliases += 1
            if not dry and target is not None:
                moved = models_pb2.ModelAliasSet(
                    alias=alias, version=target, reason="imported from MLflow"
                )
                append(settings, [model_event(settings, registered.name, "model_alias_set", moved)])
                # Return once the registry shows it, as cairn.set_model_alias does.
                models._until_visible(
                    partial(_alias_in_place, settings, registered.name, alias, target),
                    f"{registered.name}@{alias} -> {target}",
                )


def _reads(settings: Settings) -> Any:
    from cairn._registry import reads_for

    return reads_for(settings)


def _existing_versions(settings: Settings, name: str) -> dict[int, int]:
    """MLflow version number -> Cairn version number of versions imported before."""
    try:
        versions = _reads(settings).versions(name)
    except NotFoundError:
        return {}
    found = {}
    for version in versions:
        tagged = version.tags.get(VERSION_TAG)
        if tagged and tagged.isdigit():
            found[int(tagged)] = version.version
    return found


def _alias_in_place(settings: Settings, name: str, alias: str, version: int | None) -> bool:
    try:
        return bool(_reads(settings).resolve(name, alias).version == version)
    except (NotFoundError, ValidationError):
        return False


def _until_artifact_visible(settings: Settings, run_id: str, artifact: str) -> None:
    """The registry needs the run's artifact readable through the query service (the processors
    project it within a second or two of the run's delivery)."""
    deadline = time.monotonic() + _VISIBLE_WAIT_S
    while True:
        try:
            _reads(settings).artifact(run_id, artifact)
            return
        except NotFoundError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.25)
