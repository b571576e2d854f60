"""The model registry's portal actions: register a run's artifact as a model version, move or
remove an alias with a reason, each appended through ingest as the signed-in person.

The same events as the SDK's (``cairn.register_model``, ``cairn.set_model_alias``,
``cairn.delete_model_alias``; docs/models.md), so the registry numbers portal versions exactly
like SDK ones (in the order they reach the model's log). Permissions (docs/permissions.md, P6):
a member of the model's team (for a new model, of the run's team) or a portal admin; ingest
refuses a model of another team (``aggregate_owner``, row W4) whatever the portal lets through.
Each action waits briefly until the store shows its result, so the page drawn next is fresh.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from cairn_contract.errors import NotFoundError, UnavailableError, ValidationError
from query import model_registry
from query.models import ModelSummary
from query.run_details import ArtifactRecord
from ui import context, events
from ui.actions import _check_team, append
from ui.events import Target, TargetKind

WAIT_S = 20.0  # the processors' lag is well under a second; this is the page's patience


@dataclass(frozen=True)
class RunArtifact:
    """An artifact of a run, with the run's team and project (where a new model is created)."""

    run_id: str
    team: str
    project: str
    artifact: ArtifactRecord


def _required(text: str, field: str, what: str) -> str:
    value = text.strip()
    if not value:
        raise ValidationError(f"{field}: {what} (rule required)", field=field, rule="required")
    return value


def _wait(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            if check():
                return
        except NotFoundError:
            pass
        if time.monotonic() > deadline:
            raise UnavailableError(
                f"{what} was accepted but is not visible after {WAIT_S:.0f} s; it will appear "
                "once the processors catch up",
                rule="projection_lag",
            )
        time.sleep(0.25)


def register_version(
    source: RunArtifact, name: str, description: str, models: tuple[ModelSummary, ...]
) -> int:
    """Register ``source``'s artifact as the next version of model ``name`` (created in the
    run's team and project when no visible model has that name); returns the version number."""
    model = _required(name, "name", "name the model")
    existing = next((m for m in models if m.name == model), None)
    team = existing.team if existing else source.team
    project = existing.project if existing else source.project
    person = _check_team(team)
    target = Target(TargetKind.MODEL, model, team, project)
    text = description.strip()
    created = events.model_version_created(
        target,
        person,
        source.run_id,
        source.artifact.name,
        source.artifact.uri,
        source.artifact.sha256,
        text,
    )
    batch = [created] if existing else [events.model_registered(target, person), created]
    append(batch)
    event_id = created.envelope.event_id
    found: list[int] = []

    def numbered() -> bool:
        version = model_registry.version_created_by(
            context.client(), context.caller(), model, event_id
        )
        if version is not None:
            found.append(version.version)
        return version is not None

    _wait(numbered, f"model {model!r}: the new version")
    append([events.model_version_built_by(target, person, found[0], source.run_id)])
    return found[0]


def _target(model: ModelSummary) -> tuple[Target, str]:
    person = _check_team(model.team)
    return Target(TargetKind.MODEL, model.model_id, model.team, model.project), person


def set_alias(model: ModelSummary, version: int, alias: str, reason: str) -> None:
    """Point ``alias`` of ``model`` at ``version`` (moving it), for ``reason`` (required: it
    stays in the alias history and the provenance report)."""
    label = _required(alias, "alias", "name the alias (production, staging, champion ...)")
    why = _required(reason, "reason", "say why (it stays in the alias history)")
    target, person = _target(model)
    append([events.model_alias_set(target, person, label, version, why)])
    client, caller = context.client(), context.caller()
    _wait(
        lambda: model_registry.resolve(client, caller, model.model_id, label).version == version,
        f"{model.name}@{label} -> v{version}",
    )


def remove_alias(model: ModelSummary, alias: str, reason: str) -> None:
    """Remove ``alias`` from ``model``, for ``reason`` (required)."""
    label = _required(alias, "alias", "choose the alias to remove")
    why = _required(reason, "reason", "say why (it stays in the alias history)")
    target, person = _target(model)
    append([events.model_alias_removed(target, person, label, why)])
    client, caller = context.client(), context.caller()
    _wait(
        lambda: all(
            label not in v.aliases for v in model_registry.versions(client, caller, model.model_id)
        ),
        f"removing {model.name}@{label}",
    )
