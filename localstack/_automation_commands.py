"""What ``cairn automations`` does (:mod:`localstack.automations_cli` parses; this acts).

Writes are rule events appended through ingest with the caller's API key, so ingest decides who
may (docs/permissions.md): the key must belong to the rule's team (``team_scope``). Each event is
validated here first with the same rules ingest applies, so a bad trigger, condition or URL is
reported before anything is sent. Reads go through the query service on the same address
(``ListAutomationRules``, ``ListAutomationDeliveries``), authenticated with the same key, so the
CLI sees exactly the rules and deliveries of the key holder's teams, like the portal; it never
connects to ClickHouse.

Where things are: ``--ingest-url``/``CAIRN_INGEST_URL``, ``--api-key``/``CAIRN_API_KEY`` and
``--team``/``CAIRN_TEAM``; on a machine running the local stack, its ingest address, admin key
and team ``local`` are the defaults.
"""

from __future__ import annotations

import argparse
import os
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import grpc
from google.protobuf.message import Message

from cairn_contract.errors import (
    CairnError,
    ConfigError,
    ErrorCode,
    NotFoundError,
    ValidationError,
    error_for_code,
)
from cairn_contract.ids import new_uuid7
from cairn_contract.v1 import automations_pb2, events_pb2, ingest_pb2_grpc, query_pb2
from cairn_contract.v1 import query_pb2_grpc as query_grpc
from domain.automations import rule_event
from domain.validation import BatchValidator
from localstack import secrets as local_secrets
from localstack.bootstrap import LOCAL_TEAM
from localstack.settings import StackSettings
from query.reporting_output import render_table

APPEND_TIMEOUT_S = 30.0
READ_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Target:
    ingest_url: str
    api_key: str
    team: str


def resolve_target(args: argparse.Namespace, env: Mapping[str, str]) -> Target:
    stack = StackSettings.from_env(env)
    found = local_secrets.load(stack.secrets_path)
    ingest_url = (
        args.ingest_url or env.get("CAIRN_INGEST_URL") or (stack.ingest_address if found else "")
    )
    api_key = args.api_key or env.get("CAIRN_API_KEY") or (found.admin_api_key if found else "")
    team = args.team or env.get("CAIRN_TEAM") or (LOCAL_TEAM if found else "")
    for value, name in ((ingest_url, "CAIRN_INGEST_URL"), (api_key, "CAIRN_API_KEY")):
        if not value:
            raise ConfigError(f"{name} is not set and no local stack runs here", field=name)
    if not team:
        raise ConfigError("CAIRN_TEAM is not set and no local stack runs here", field="team")
    return Target(ingest_url, api_key, team)


def _query(target: Target, method: str, request: Message) -> Any:
    """One unary call of the query service with the caller's key; refusals as Cairn errors."""
    with grpc.insecure_channel(target.ingest_url) as channel:
        stub = query_grpc.QueryStub(channel)
        try:
            return getattr(stub, method)(
                request,
                metadata=(("authorization", f"Bearer {target.api_key}"),),
                timeout=READ_TIMEOUT_S,
            )
        except grpc.RpcError as exc:
            raise _error(exc, method) from exc


def rules(target: Target) -> list[query_pb2.AutomationRule]:
    request = query_pb2.ListAutomationRulesRequest(team=target.team)
    return list(_query(target, "ListAutomationRules", request).rules)


def _existing(target: Target, name: str) -> query_pb2.AutomationRule | None:
    return next((r for r in rules(target) if r.name == name), None)


def cmd_add(args: argparse.Namespace) -> int:
    target = resolve_target(args, os.environ)
    definition = automations_pb2.RuleDefinition(
        trigger=args.trigger,
        condition=args.where,
        project=args.project,
        stalled_after_s=args.minutes * 60.0,
    )
    shown_secret = ""
    if args.webhook:
        secret = args.secret or secrets.token_urlsafe(24)
        shown_secret = "" if args.secret else secret
        definition.actions.add().webhook.CopyFrom(
            automations_pb2.WebhookAction(url=args.webhook, secret=secret)
        )
    elif args.email:
        definition.actions.add().email.address = args.email
    else:
        definition.actions.add().inbox.user_id = args.inbox
    if args.secret and not args.webhook:
        raise ValidationError(
            "--secret only applies to --webhook", field="secret", rule="webhook_only"
        )
    event = rule_event(
        "rule_created",
        team=target.team,
        name=args.name,
        now_ns=time.time_ns(),
        event_id=new_uuid7(),
        definition=definition,
    )
    _check(event)
    if _existing(target, args.name) is not None:
        raise ValidationError(
            f"rule {args.name!r} exists in team {target.team}: rm it first or pick another name",
            field="name",
            rule="rule_exists",
        )
    append(target, [event])
    _until(target, args.name, lambda rule: rule is not None)
    print(f"rule {args.name!r} created: {args.trigger} in team {target.team}")
    if shown_secret:
        print(f"webhook secret (shown once; verify X-Cairn-Signature with it): {shown_secret}")
    return 0


def cmd_state(args: argparse.Namespace) -> int:
    target = resolve_target(args, os.environ)
    kind = {"pause": "rule_paused", "resume": "rule_resumed", "rm": "rule_deleted"}[args.verb]
    if _existing(target, args.name) is None:
        raise NotFoundError(f"no rule {args.name!r} in team {target.team}", field="name")
    event = rule_event(
        kind, team=target.team, name=args.name, now_ns=time.time_ns(), event_id=new_uuid7()
    )
    _check(event)
    append(target, [event])
    if args.verb == "rm":
        _until(target, args.name, lambda rule: rule is None)
    else:
        _until(
            target,
            args.name,
            lambda rule: rule is not None and rule.paused == (kind == "rule_paused"),
        )
    done = {"pause": "paused", "resume": "resumed", "rm": "deleted"}[args.verb]
    print(f"rule {args.name!r} {done}")
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    target = resolve_target(args, os.environ)
    rows = [
        (
            r.name,
            r.trigger,
            r.condition or "-",
            r.project or "*",
            ", ".join(r.targets),
            "paused" if r.paused else "active",
        )
        for r in rules(target)
    ]
    print(render_table(["name", "trigger", "condition", "project", "actions", "state"], rows))
    return 0


def cmd_deliveries(args: argparse.Namespace) -> int:
    target = resolve_target(args, os.environ)
    if _existing(target, args.name) is None:
        raise NotFoundError(f"no rule {args.name!r} in team {target.team}", field="name")
    request = query_pb2.ListAutomationDeliveriesRequest(
        team=target.team, rule=args.name, limit=max(1, args.limit)
    )
    found = _query(target, "ListAutomationDeliveries", request).deliveries
    rows = [
        (
            d.delivery_id,
            d.status,
            d.attempts,
            d.trigger,
            d.action_kind,
            d.last_error[:60] or "-",
            datetime.fromtimestamp(d.last_attempt_at_ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S"),
        )
        for d in found
    ]
    headers = [
        "delivery_id",
        "status",
        "attempts",
        "trigger",
        "action",
        "last_error",
        "last_attempt",
    ]
    print(render_table(headers, rows))
    return 0


def _until(
    target: Target,
    name: str,
    done: Callable[[query_pb2.AutomationRule | None], bool],
    timeout_s: float = 15.0,
) -> None:
    """Wait until the change is visible to reads (the projection trails ingest by about a
    second), so ``ls`` right after ``add`` shows the rule. Accepted is durable either way."""
    deadline = time.monotonic() + timeout_s
    while not done(_existing(target, name)):
        if time.monotonic() > deadline:
            print("(accepted; not visible to reads yet: the processors may be behind)")
            return
        time.sleep(0.2)


def _check(event: events_pb2.Event) -> None:
    """Ingest's own validation, before anything is sent; errors name the flag's field."""
    BatchValidator().check(events_pb2.EventBatch(events=[event]), now_ns=time.time_ns())


def append(target: Target, events: Sequence[events_pb2.Event]) -> None:
    """Append through ingest with the caller's key; ingest's refusal becomes a Cairn error."""
    batch = events_pb2.EventBatch(events=list(events))
    with grpc.insecure_channel(target.ingest_url) as channel:
        stub = ingest_pb2_grpc.IngestStub(channel)
        try:
            stub.Append(
                batch,
                metadata=(("authorization", f"Bearer {target.api_key}"),),
                timeout=APPEND_TIMEOUT_S,
            )
        except grpc.RpcError as exc:
            raise _error(exc, "Append") from exc


def _error(exc: grpc.RpcError, what: str) -> CairnError:
    """The Cairn error the server raised: its code from the google.rpc ``ErrorInfo`` (with the
    field and rule of the ``BadRequest`` violation), else from the gRPC status."""
    code = exc.code()
    details = exc.details() or code.name
    reason, field, rule = _rich_details(exc)
    if reason:
        return error_for_code(reason, details, field=field, rule=rule)
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return error_for_code(ErrorCode.UNAVAILABLE, f"{what}: Cairn is unreachable: {details}")
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return ConfigError(
            f"{what}: the server has no query service (start ingest with CAIRN_CLICKHOUSE_URL)",
            field="ingest_url",
        )
    by_grpc = {
        grpc.StatusCode.UNAUTHENTICATED: ErrorCode.UNAUTHENTICATED,
        grpc.StatusCode.PERMISSION_DENIED: ErrorCode.PERMISSION_DENIED,
        grpc.StatusCode.INVALID_ARGUMENT: ErrorCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND: ErrorCode.NOT_FOUND,
    }
    return error_for_code(by_grpc.get(code, ErrorCode.INTERNAL), f"{what}: {details}")


def _rich_details(exc: grpc.RpcError) -> tuple[str, str | None, str | None]:
    """(Cairn code, field, rule) from the google.rpc.Status in the trailers, when present."""
    from google.rpc import error_details_pb2, status_pb2

    trailers: Any = exc.trailing_metadata() if hasattr(exc, "trailing_metadata") else None
    for key, value in trailers or ():
        if key != "grpc-status-details-bin":
            continue
        reason, field, rule = "", None, None
        for detail in status_pb2.Status.FromString(value).details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason = info.reason
                field = info.metadata.get("field") or field
                rule = info.metadata.get("rule") or rule
        return reason, field, rule
    return "", None, None
