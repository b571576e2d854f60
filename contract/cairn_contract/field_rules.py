"""Which rule each string field of the contract obeys, which fields are required, and the one
format of validation errors (:func:`fail`).

Kept as data so the docs (docs/events.md, "Field rules") and the validator read the same table,
and so a unit test can check that every string field of every event message has a deliberate
rule: adding a field to a ``.proto`` file without deciding its rule fails that test.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NoReturn

from cairn_contract.errors import ValidationError
from cairn_contract.v1 import envelope_pb2

# Control characters a text may not hold; multiline text may hold tab, newline and carriage return.
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def fail(field: str, rule: str, detail: str) -> NoReturn:
    """Raise the validation error for ``field`` breaking ``rule``; the one message format."""
    raise ValidationError(
        f"{field or 'EventBatch'}: {detail} (rule {rule})", field=field, rule=rule
    )


def aggregate_kind_name(kind: int) -> str:
    value = envelope_pb2.AggregateKind.DESCRIPTOR.values_by_number.get(kind)
    return value.name if value is not None else str(kind)


@dataclass(frozen=True, slots=True)
class TextRule:
    """A rule for string values: a length limit (a ``Limits`` attribute) plus, optionally, a
    pattern the whole value must match (its violation is reported as ``format_rule``)."""

    kind: str
    limit: str  # name of the Limits attribute bounding the length
    pattern: re.Pattern[str] | None = None
    format_rule: str = ""
    describe: str = ""  # what the pattern allows, for error messages
    multiline: bool = False  # tab, newline and carriage return allowed
    any_characters: bool = False  # no control-character check (code diffs)


ID = TextRule(
    "id",
    "max_id_chars",
    re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+\-]*"),
    "id_format",
    "letters, digits and . _ : @ + -, starting with a letter or digit",
)
SLUG = TextRule(
    "slug",
    "max_slug_chars",
    re.compile(r"[a-z0-9][a-z0-9_\-]*"),
    "slug_format",
    "lowercase letters, digits, _ and -, starting with a letter or digit",
)
KEY = TextRule(
    "key",
    "max_key_chars",
    re.compile(r"[A-Za-z0-9_\-/:]+(?:\.[A-Za-z0-9_\-/:]+)*"),
    "key_format",
    "dot-separated segments of letters, digits and _ - / :",
)
NAME = TextRule("name", "max_name_chars")
PATH = TextRule("path", "max_uri_chars")
TEXT = TextRule("text", "max_text_chars", multiline=True)
MARKDOWN = TextRule("markdown", "max_markdown_chars", multiline=True)
PARAM_VALUE = TextRule("param_value", "max_param_value_chars", multiline=True)
TAG_VALUE = TextRule("tag_value", "max_tag_value_chars", multiline=True)
VIEW_PARAM = TextRule("view_param", "max_view_param_chars", multiline=True)
DIFF = TextRule("diff", "max_diff_chars", any_characters=True)
URI = TextRule(
    "uri",
    "max_uri_chars",
    re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:\S+"),
    "uri_format",
    "scheme:rest without whitespace, e.g. s3://bucket/key or file:///data/x",
)
SHA256 = TextRule(
    "sha256",
    "max_id_chars",
    re.compile(r"[0-9a-f]{64}"),
    "sha256_format",
    "64 lowercase hex digits",
)
DIGEST = TextRule(
    "digest",
    "max_id_chars",
    re.compile(r"[a-z0-9]+:[0-9a-f]{32,128}"),
    "digest_format",
    "algorithm:hex such as sha256:<64 hex digits>",
)
COMMIT = TextRule(
    "commit",
    "max_id_chars",
    re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}"),
    "commit_format",
    "a full commit hash of 40 or 64 lowercase hex digits",
)

# Message full name -> field -> rule. Envelope strings are checked by the validator itself.
STRING_RULES: Mapping[str, Mapping[str, TextRule]] = {
    "cairn.v1.Actor": {"id": ID, "key_id": ID, "on_behalf_of": ID},
    "cairn.v1.RunCreated": {
        "name": NAME,
        "owner": ID,
        "parent_run_id": ID,
        "sweep_id": ID,
        "host": NAME,
        "command_line": TEXT,
        "description": MARKDOWN,
    },
    "cairn.v1.RunStatusChanged": {"reason": TEXT, "traceback": MARKDOWN},
    "cairn.v1.RunResumed": {"host": NAME, "command_line": TEXT},
    "cairn.v1.RunForked": {"parent_run_id": ID},
    "cairn.v1.RunRenamed": {"name": NAME},
    "cairn.v1.RunDescriptionSet": {"description": MARKDOWN},
    "cairn.v1.RunArchived": {"reason": TEXT},
    "cairn.v1.RunUnarchived": {"reason": TEXT},
    "cairn.v1.ParamValue": {"string_value": PARAM_VALUE},
    "cairn.v1.Param": {"key": KEY},
    "cairn.v1.Tag": {"key": KEY, "value": TAG_VALUE},
    "cairn.v1.TagsRemoved": {"keys": KEY},
    "cairn.v1.MetricSeries": {"key": KEY},
    "cairn.v1.SystemMetricSeries": {"device": ID},
    "cairn.v1.Histogram": {"key": KEY},
    "cairn.v1.MediaItem": {"key": KEY, "caption": TEXT, "text": MARKDOWN},
    "cairn.v1.MediaBlob": {"role": ID, "sha256": SHA256, "content_type": NAME},
    "cairn.v1.BoundingBox": {"label": NAME},
    "cairn.v1.MediaTable": {"columns": NAME},
    "cairn.v1.TableCell": {"text": TEXT, "image_sha256": SHA256},
    "cairn.v1.CodeVersionRecorded": {
        "git_remote": PATH,
        "branch": NAME,
        "commit": COMMIT,
        "diff": DIFF,
        "diff_sha256": SHA256,
        "entry_point": PATH,
    },
    "cairn.v1.Package": {"name": NAME, "version": NAME, "source": NAME},
    "cairn.v1.Gpu": {"name": NAME, "driver_version": NAME},
    "cairn.v1.EnvironmentRecorded": {
        "python_version": NAME,
        "python_implementation": NAME,
        "os": NAME,
        "os_version": NAME,
        "cpu_model": NAME,
        "cuda_version": NAME,
        "cudnn_version": NAME,
        "container_image": PATH,
        "container_digest": DIGEST,
        "hostname": NAME,
    },
    "cairn.v1.DatasetRecorded": {
        "name": NAME,
        "uri": URI,
        "digest": DIGEST,
        "manifest_digest": DIGEST,
        "version": NAME,
    },
    "cairn.v1.ArtifactLogged": {"name": NAME, "uri": URI, "sha256": SHA256},
    "cairn.v1.KeyValue": {"key": KEY, "value": TEXT},
    "cairn.v1.LineageNode": {"id": ID, "name": NAME},
    "cairn.v1.ModelRegistered": {"name": NAME, "description": MARKDOWN},
    "cairn.v1.ModelVersionCreated": {
        "run_id": ID,
        "artifact_name": NAME,
        "artifact_uri": URI,
        "artifact_sha256": SHA256,
        "description": MARKDOWN,
    },
    "cairn.v1.ModelVersionUpdated": {"description": MARKDOWN, "removed_tags": KEY},
    "cairn.v1.ModelVersionStageChanged": {"reason": TEXT},
    "cairn.v1.ModelAliasSet": {"alias": SLUG, "reason": TEXT},
    "cairn.v1.ModelAliasRemoved": {"alias": SLUG, "reason": TEXT},
    "cairn.v1.TeamCreated": {"display_name": NAME, "description": MARKDOWN},
    "cairn.v1.MemberJoined": {"user_id": ID, "display_name": NAME, "email": NAME},
    "cairn.v1.MemberLeft": {"user_id": ID, "reason": TEXT},
    "cairn.v1.ApiKeyIssued": {"key_id": ID, "key_sha256": SHA256, "name": NAME, "user_id": ID},
    "cairn.v1.ApiKeyRevoked": {"key_id": ID, "reason": TEXT},
    "cairn.v1.ProjectCreated": {"display_name": NAME, "description": MARKDOWN},
    "cairn.v1.MetricAnchor": {"metric_key": KEY},
    "cairn.v1.CommentAdded": {
        "comment_id": ID,
        "body_markdown": MARKDOWN,
        "reply_to": ID,
        "mentions": ID,
    },
    "cairn.v1.CommentEdited": {"comment_id": ID, "body_markdown": MARKDOWN, "mentions": ID},
    "cairn.v1.CommentDeleted": {"comment_id": ID, "reason": TEXT},
    "cairn.v1.DecisionRecorded": {
        "decision_id": ID,
        "title": NAME,
        "body_markdown": MARKDOWN,
        "run_ids": ID,
    },
    "cairn.v1.Principal": {"id": ID},
    "cairn.v1.ResourceShared": {"note": TEXT},
    "cairn.v1.OwnershipTransferred": {"from_user": ID, "to_user": ID, "reason": TEXT},
    "cairn.v1.ProjectNotesSet": {"body_markdown": MARKDOWN},
    "cairn.v1.WebhookAction": {"url": PATH, "secret": NAME},
    "cairn.v1.EmailAction": {"address": NAME},
    "cairn.v1.InboxAction": {"user_id": ID},
    "cairn.v1.RuleDefinition": {"trigger": NAME, "condition": TEXT, "project": SLUG},
    "cairn.v1.RulePaused": {"reason": TEXT},
    "cairn.v1.RuleResumed": {"reason": TEXT},
    "cairn.v1.RuleDeleted": {"reason": TEXT},
    "cairn.v1.InboxItemsRead": {"user_id": ID, "item_ids": ID},
    "cairn.v1.ViewParam": {"name": KEY, "value": VIEW_PARAM},
    "cairn.v1.ViewSaved": {"name": NAME, "page": SLUG},
    "cairn.v1.ViewDeleted": {"reason": TEXT},
}

# Message full name -> fields (or oneof names) that must be set: non-empty strings and lists,
# non-zero numbers and enums, present sub-messages.
REQUIRED: Mapping[str, tuple[str, ...]] = {
    "cairn.v1.RunStatusChanged": ("status",),
    "cairn.v1.RunRenamed": ("name",),
    "cairn.v1.RunForked": ("parent_run_id",),
    "cairn.v1.ParamsSet": ("params",),
    "cairn.v1.Param": ("key", "value"),
    "cairn.v1.ParamValue": ("kind",),
    "cairn.v1.TagsSet": ("tags",),
    "cairn.v1.Tag": ("key",),
    "cairn.v1.TagsRemoved": ("keys",),
    "cairn.v1.MediaBatch": ("items",),
    "cairn.v1.MediaItem": ("key", "kind"),
    "cairn.v1.MediaBlob": ("role", "sha256", "content_type"),
    "cairn.v1.MediaTable": ("columns",),
    "cairn.v1.TableCell": ("value",),
    "cairn.v1.CodeVersionRecorded": ("commit",),
    "cairn.v1.Package": ("name",),
    "cairn.v1.Gpu": ("name",),
    "cairn.v1.DatasetRecorded": ("name", "role"),
    "cairn.v1.ArtifactLogged": ("name", "kind"),
    "cairn.v1.KeyValue": ("key",),
    "cairn.v1.LineageEdgeRecorded": ("source", "relation", "target"),
    "cairn.v1.LineageNode": ("kind", "id"),
    "cairn.v1.ModelRegistered": ("name",),
    "cairn.v1.ModelVersionCreated": ("run_id", "artifact_sha256"),
    "cairn.v1.ModelVersionUpdated": ("version",),
    "cairn.v1.ModelVersionStageChanged": ("version", "stage"),
    "cairn.v1.ModelAliasSet": ("alias", "version"),
    "cairn.v1.ModelAliasRemoved": ("alias",),
    "cairn.v1.MemberJoined": ("user_id", "role"),
    "cairn.v1.MemberLeft": ("user_id",),
    "cairn.v1.ApiKeyIssued": ("key_id", "key_sha256", "role", "principal_kind"),
    "cairn.v1.ApiKeyRevoked": ("key_id",),
    "cairn.v1.MetricAnchor": ("metric_key",),
    "cairn.v1.CommentAdded": ("comment_id", "body_markdown"),
    "cairn.v1.CommentEdited": ("comment_id", "body_markdown"),
    "cairn.v1.CommentDeleted": ("comment_id",),
    "cairn.v1.DecisionRecorded": ("decision_id", "title"),
    "cairn.v1.Principal": ("kind", "id"),
    "cairn.v1.ResourceShared": ("grantee", "access"),
    "cairn.v1.ResourceUnshared": ("grantee",),
    "cairn.v1.OwnershipTransferred": ("to_user",),
    "cairn.v1.RuleCreated": ("definition",),
    "cairn.v1.RuleChanged": ("definition",),
    "cairn.v1.RuleDefinition": ("trigger", "actions"),
    "cairn.v1.RuleAction": ("target",),
    "cairn.v1.WebhookAction": ("url",),  # and a secret, plain or sealed (domain/automations.py)
    "cairn.v1.EmailAction": ("address",),
    "cairn.v1.InboxAction": ("user_id",),
    "cairn.v1.InboxItemsRead": ("user_id", "item_ids"),
    "cairn.v1.ViewSaved": ("name", "page", "state_version", "visibility"),
    "cairn.v1.ViewParam": ("name",),
}
