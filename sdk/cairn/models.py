"""The model registry from Python: log, register, promote, use and explain a model.

::

    mv = run.log_model("model.pkl", name="churn")          # version 1, 2, ... of "churn"
    cairn.set_model_alias("churn", mv.version, "production", reason="AUC +0.04")
    path = cairn.use_model("churn@production")            # a verified local copy
    print(cairn.model_report("churn@production"))          # how it was built (Markdown)

A model lives in the team and project it was first registered in (its name is its id, unique
within a Cairn installation). Every change is an event appended through ingest; version numbers
are assigned by the registry in the order the versions reached the model's log, so two
processes registering at once get distinct consecutive numbers (docs/models.md). Reads go
through the query service (:mod:`cairn._registry`).

Why one module of ~470 lines: it is the registry's public surface, one function per call a user
makes, each short; the wire, the reads and the verified download live in their own modules.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn import _checks as checks
from cairn._model_download import download
from cairn._registry import (
    AliasMove,
    ModelInfo,
    ModelVersion,
    RegistryReads,
    append,
    model_event,
    reads_for,
    wait_for_version,
)
from cairn.errors import AlreadyExistsError, NotFoundError, UnavailableError

if TYPE_CHECKING:
    from cairn.config import Settings
    from cairn.run import Artifact, Run

__all__ = [
    "AliasMove",
    "ModelInfo",
    "ModelVersion",
    "archive_model_version",
    "check_registered_name",
    "delete_model_alias",
    "download",
    "list_models",
    "model_alias_history",
    "model_cache",
    "model_report",
    "model_versions",
    "parse_reference",
    "register_logged",
    "register_model",
    "resolve_model",
    "set_model_alias",
    "update_model_version",
    "use_model",
]

VERSION_WAIT_S = 60.0
# How long register_model looks again for an artifact not found: the processors' lag behind a run
# that just finished (usually well under a second); a name that was never logged waits this long.
ARTIFACT_WAIT_S = 10.0
REPORT_FORMATS = ("md", "html")


def _settings(run: Run | None = None, **overrides: Any) -> Settings:
    from cairn import _lifecycle
    from cairn.config import resolve_settings

    active = run or _lifecycle.current()
    given = {k: v for k, v in overrides.items() if v is not None}
    if active is not None and not given:
        return active.settings
    return resolve_settings(given)


def _name(name: object) -> str:
    return checks.check_id(name, "name")


def parse_reference(reference: str) -> tuple[str, int | str | None]:
    """``churn@production`` -> (churn, "production"); ``churn:3`` -> (churn, 3); ``churn`` ->
    (churn, None), the newest version that is not archived."""
    if not isinstance(reference, str) or not reference.strip():
        checks.fail("reference", "required", "must name a model: NAME, NAME:VERSION or NAME@ALIAS")
    text = reference.strip()
    if "@" in text:
        name, _, alias = text.partition("@")
        return _name(name), checks.check_slug(alias, "alias")
    if ":" in text:
        name, _, number = text.rpartition(":")
        if not number.isdigit() or int(number) < 1:
            checks.fail("version", "positive_int", f"must be a version number >= 1, got {number!r}")
        return _name(name), int(number)
    return _name(text), None


def _pairs(values: Mapping[str, Any] | None, field: str) -> list[Any]:
    from cairn.v1 import common_pb2

    pairs = []
    for key, value in (values or {}).items():
        k = checks.check_key(key, f"{field}.{key}")
        v = checks.check_text(str(value), f"{field}.{key}", checks.MAX_TEXT_CHARS)
        pairs.append(common_pb2.KeyValue(key=k, value=v))
    return pairs


def _register(
    settings: Settings,
    *,
    run_id: str,
    artifact_name: str,
    sha256: str,
    uri: str,
    name: str,
    aliases: Iterable[str],
    description: str,
    tags: Mapping[str, Any] | None,
) -> ModelVersion:
    from cairn.v1 import lineage_pb2, models_pb2

    model = _name(name)
    alias_list = [checks.check_slug(a, "aliases") for a in aliases]
    text = checks.check_text(description, "description", checks.MAX_MARKDOWN_CHARS)
    tag_pairs = _pairs(tags, "metadata")
    reads = reads_for(settings)
    events = []
    if not reads.versions(model):  # first use; a second ModelRegistered at a race is harmless
        events.append(
            model_event(settings, model, "model_registered", models_pb2.ModelRegistered(name=model))
        )
    created = models_pb2.ModelVersionCreated(
        run_id=run_id,
        artifact_name=artifact_name,
        artifact_uri=uri,
        artifact_sha256=sha256,
        description=text,
    )
    created_event = model_event(settings, model, "model_version_created", created)
    try:
        append(settings, [*events, created_event])
    except AlreadyExistsError:
        if not events:
            raise
        # Another process created the model between our read and our append: ingest refused
        # the whole batch (a model is created once), so append the version alone.
        append(settings, [created_event])
    version = wait_for_version(reads, model, created_event.envelope.event_id, VERSION_WAIT_S)
    node = lineage_pb2.LineageNode
    built_by = lineage_pb2.LineageEdgeRecorded(
        source=node(
            kind=lineage_pb2.LINEAGE_NODE_KIND_MODEL_VERSION, id=model, version=version.version
        ),
        relation=lineage_pb2.LINEAGE_RELATION_BUILT_BY,
        target=node(kind=lineage_pb2.LINEAGE_NODE_KIND_RUN, id=run_id),
    )
    follow_up = [model_event(settings, model, "lineage_edge_recorded", built_by)]
    if tag_pairs:
        update = models_pb2.ModelVersionUpdated(version=version.version, set_tags=tag_pairs)
        follow_up.append(model_event(settings, model, "model_version_updated", update))
    for alias in alias_list:
        moved = models_pb2.ModelAliasSet(
            alias=alias, version=version.version, reason="set at registration"
        )
        follow_up.append(model_event(settings, model, "model_alias_set", moved))
    append(settings, follow_up)
    for alias in alias_list:  # as set_model_alias does: the next use_model("name@alias") sees it
        _until_visible(
            partial(_points_at, reads, model, alias, version.version),
            f"{model}@{alias} -> {version.version}",
        )
    return replace(
        version,
        aliases=tuple(sorted({*version.aliases, *alias_list})),
        tags={**version.tags, **{p.key: p.value for p in tag_pairs}},
    )


def register_logged(
    run: Run, artifact: Artifact, name: str, *, metadata: Mapping[str, Any] | None = None
) -> ModelVersion:
    """Register ``artifact``, which ``run`` just logged, as the next version of model ``name``
    in the run's team and project: what the framework integrations' ``registered_model_name=``
    does with the model file they saved."""
    return _register(
        run.settings,
        run_id=run.id,
        artifact_name=artifact.name,
        sha256=artifact.sha256,
        uri=artifact.uri,
        name=name,
        aliases=(),
        description="",
        tags=metadata,
    )


def check_registered_name(name: str | None, saves_model: bool, option: str) -> str | None:
    """An integration's ``registered_model_name=``: a valid model name, and only together with
    the option (``option``) that makes the integration save the model."""
    if name is None:
        return None
    checked = checks.check_id(name, "registered_model_name")
    if not saves_model:
        checks.fail(
            "registered_model_name",
            "requires_saved_model",
            f"registers the saved model, so it needs {option}",
        )
    return checked


def log_model(
    run: Run,
    path: str | Path,
    name: str,
    *,
    aliases: Iterable[str] = (),
    description: str = "",
    metadata: Mapping[str, Any] | None = None,
) -> ModelVersion:
    """:meth:`cairn.Run.log_model`: store ``path`` as a model artifact of ``run`` and register it
    as the next version of ``name``."""
    model = _name(name)
    if isinstance(aliases, str):
        aliases = (aliases,)
    artifact = run.log_artifact(path, kind="model", metadata=metadata)
    return _register(
        run.settings,
        run_id=run.id,
        artifact_name=artifact.name,
        sha256=artifact.sha256,
        uri=artifact.uri,
        name=model,
        aliases=aliases,
        description=description,
        tags=metadata,
    )


def register_model(
    run_id: str,
    artifact_name: str,
    name: str,
    *,
    aliases: Iterable[str] = (),
    description: str = "",
    metadata: Mapping[str, Any] | None = None,
    team: str | None = None,
    project: str | None = None,
) -> ModelVersion:
    """Register an artifact that run ``run_id`` already logged as the next version of ``name``
    (MLflow's ``register_model``); works outside a run. The model is created in ``team`` and
    ``project`` (default: the configured ones) on first use.

    A run that has just finished may not be projected yet (its events are in Kafka when
    ``finish()`` returns, in the store a moment later), so an artifact not found is looked up
    again for up to ``ARTIFACT_WAIT_S`` before the NOT_FOUND error."""
    run = checks.check_id(run_id, "run_id")
    label = checks.check_name(artifact_name, "artifact_name")
    settings = _settings(team=team, project=project)
    found = _artifact_when_visible(reads_for(settings), run, label)
    if isinstance(aliases, str):
        aliases = (aliases,)
    return _register(
        settings,
        run_id=run,
        artifact_name=label,
        sha256=found[0],
        uri=found[1],
        name=name,
        aliases=aliases,
        description=description,
        tags=metadata,
    )


def _artifact_when_visible(reads: RegistryReads, run_id: str, name: str) -> tuple[str, str]:
    deadline = time.monotonic() + ARTIFACT_WAIT_S
    delay = 0.05
    while True:
        try:
            return reads.artifact(run_id, name)
        except NotFoundError:
            if time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)


def _emit(settings: Settings, model: str, field: str, payload: Any) -> None:
    append(settings, [model_event(settings, model, field, payload)])


def _points_at(reads: RegistryReads, model: str, alias: str, version: int) -> bool:
    return reads.resolve(model, alias).version == version


def _until_visible(check: Callable[[], bool], what: str) -> None:
    """Wait until the registry shows a change just appended (the processors' lag, usually well
    under a second), so the next call (``use_model("churn@production")``) sees it."""
    deadline = time.monotonic() + VERSION_WAIT_S
    delay = 0.05
    while True:
        try:
            if check():
                return
        except NotFoundError:
            pass
        if time.monotonic() > deadline:
            raise UnavailableError(
                f"{what} was accepted but is not visible after {VERSION_WAIT_S:.0f} s; it will "
                "appear once the processors catch up",
                rule="projection_lag",
            )
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)


def set_model_alias(name: str, version: int, alias: str, *, reason: str = "") -> ModelVersion:
    """Point ``alias`` (``production``, ``champion``, any slug) at ``version``, moving it from
    wherever it pointed; recorded with actor, time and ``reason``. Returns once the registry
    shows the move, with the version as it is now."""
    from cairn.v1 import models_pb2

    model = _name(name)
    label = checks.check_slug(alias, "alias")
    why = checks.check_text(reason, "reason", checks.MAX_TEXT_CHARS)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        checks.fail("version", "positive_int", f"must be a version number >= 1, got {version!r}")
    settings = _settings()
    target = reads_for(settings).resolve(model, version)
    settings = replace(settings, team=target.team or settings.team, project=target.project)
    moved = models_pb2.ModelAliasSet(alias=label, version=version, reason=why)
    _emit(settings, model, "model_alias_set", moved)
    reads = reads_for(settings)
    _until_visible(
        lambda: reads.resolve(model, label).version == version, f"{model}@{label} -> {version}"
    )
    return reads.resolve(model, version)


def delete_model_alias(name: str, alias: str, *, reason: str = "") -> None:
    """Remove ``alias`` from model ``name`` (recorded with actor, time and ``reason``)."""
    from cairn.v1 import models_pb2

    model = _name(name)
    label = checks.check_slug(alias, "alias")
    why = checks.check_text(reason, "reason", checks.MAX_TEXT_CHARS)
    settings = _settings()
    target = reads_for(settings).resolve(model, label)
    if label not in target.aliases:
        raise NotFoundError(f"alias: model {model!r} has no alias {label!r}", field="alias")
    settings = replace(settings, team=target.team or settings.team, project=target.project)
    removed = models_pb2.ModelAliasRemoved(alias=label, reason=why)
    _emit(settings, model, "model_alias_removed", removed)
    reads = reads_for(settings)
    _until_visible(
        lambda: all(label not in v.aliases for v in reads.versions(model)),
        f"removing {model}@{label}",
    )


def archive_model_version(name: str, version: int, *, reason: str = "") -> None:
    """Archive a version: it stays listed and usable by number, but a bare ``use_model(name)``
    skips it."""
    from cairn.v1 import models_pb2

    model = _name(name)
    why = checks.check_text(reason, "reason", checks.MAX_TEXT_CHARS)
    settings = _settings()
    target = reads_for(settings).resolve(model, version)
    settings = replace(settings, team=target.team or settings.team, project=target.project)
    change = models_pb2.ModelVersionStageChanged(
        version=target.version, stage=models_pb2.MODEL_STAGE_ARCHIVED, reason=why
    )
    _emit(settings, model, "model_version_stage_changed", change)
    reads = reads_for(settings)
    _until_visible(
        lambda: reads.resolve(model, target.version).stage == "archived",
        f"archiving {model}:{target.version}",
    )


def update_model_version(
    name: str,
    version: int,
    *,
    description: str | None = None,
    tags: Mapping[str, Any] | None = None,
    remove_tags: Iterable[str] = (),
) -> None:
    """Edit a version's description and tags (``tags`` set or replace, ``remove_tags`` drop)."""
    from cairn.v1 import models_pb2

    model = _name(name)
    update = models_pb2.ModelVersionUpdated(set_tags=_pairs(tags, "tags"))
    if description is not None:
        update.description = checks.check_text(
            description, "description", checks.MAX_MARKDOWN_CHARS
        )
        update.set_description = True
    update.removed_tags.extend(checks.check_key(k, "remove_tags") for k in remove_tags)
    settings = _settings()
    target = reads_for(settings).resolve(model, version)
    update.version = target.version
    settings = replace(settings, team=target.team or settings.team, project=target.project)
    _emit(settings, model, "model_version_updated", update)


def model_versions(name: str) -> list[ModelVersion]:
    """Every version of ``name`` you may see, newest first."""
    return reads_for(_settings()).versions(_name(name))


def list_models() -> list[ModelInfo]:
    """Every registered model you may see."""
    return reads_for(_settings()).models()


def model_alias_history(name: str) -> list[AliasMove]:
    """Every alias move and stage change of ``name``, oldest first."""
    return reads_for(_settings()).alias_history(_name(name))


def resolve_model(reference: str) -> ModelVersion:
    """The version ``reference`` (``NAME``, ``NAME:VERSION``, ``NAME@ALIAS``) names now."""
    name, selector = parse_reference(reference)
    return reads_for(_settings()).resolve(name, selector)


# --- use ----------------------------------------------------------------------------------------


def model_cache(directory: str | Path | None = None) -> Path:
    """Where verified copies of model versions are kept: ``<CAIRN_DIR>/models`` by default."""
    if directory is not None:
        return Path(directory).expanduser()
    return _settings().dir / "models"


def use_model(reference: str, *, cache_dir: str | Path | None = None) -> Path:
    """Resolve ``reference`` (``churn@production``, ``churn:3`` or ``churn``, the newest version
    that is not archived), copy its artifact to a local cache, verify its sha256 and return the
    local path. Inside an active run it records that the run used this model version."""
    from cairn import _lifecycle
    from cairn.v1 import lineage_pb2

    name, selector = parse_reference(reference)
    version = reads_for(_settings()).resolve(name, selector)
    path = download(version, model_cache(cache_dir))
    run = _lifecycle.current()
    if run is not None:
        edge = lineage_pb2.LineageEdgeRecorded(
            source=lineage_pb2.LineageNode(kind=lineage_pb2.LINEAGE_NODE_KIND_RUN, id=run.id),
            relation=lineage_pb2.LINEAGE_RELATION_USED,
            target=lineage_pb2.LineageNode(
                kind=lineage_pb2.LINEAGE_NODE_KIND_MODEL_VERSION,
                id=name,
                version=version.version,
                name=f"{name}:{version.version}",
            ),
        )
        run._emit("lineage_edge_recorded", edge)
    return path


def model_report(reference: str, format: str = "md") -> str:
    """How the model version ``reference`` names was built: data digests through ancestor runs,
    code and patch, environment, parameters, metrics, alias history with reasons, decisions,
    discussion and who did what ("md" Markdown or a standalone "html" page)."""
    if format not in REPORT_FORMATS:
        checks.fail(
            "format", "one_of", f"must be one of {', '.join(REPORT_FORMATS)}, got {format!r}"
        )
    name, selector = parse_reference(reference)
    return reads_for(_settings()).report(name, selector, format)
