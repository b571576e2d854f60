"""What ``cairn automations`` does (:mod:`localstack.automations_cli` parses; this acts).

Writes are rule events appended through ingest with the caller's API key, so ingest decides who
may (docs/permissions.md): the key must belong to the rule's team (``team_scope``). Each event is
validated here first with the same rules ingest applies, so a bad trigger, condition or URL is
reported before anything is sent. Reads go through ``query/automations.py`` for the caller's team.

Where things are: ``--ingest-url``/``CAIRN_INGEST_URL``, ``--api-key``/``CAIRN_API_KEY``,
``--team``/``CAIRN_TEAM`` and ``CAIRN_CLICKHOUSE_URL``; on a machine running the local stack, its
ingest address, admin key, team ``local`` and ClickHouse endpoint are the defaults.
"""

from __future__ import annotations

import argparse
import os
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass

import grpc

from cairn_contract.errors import (
    AuthenticationError,
    CairnError,
    ConfigError,
    NotFoundError,
    PermissionDeniedError,
    UnavailableError,
    ValidationError,
)
from cairn_contract.ids import new_uuid7
from cairn_contract.v1 import automations_pb2, events_pb2, ingest_pb2_grpc
from domain.automations import rule_event
from domain.validation import BatchValidator
from localstack import secrets as local_secrets
from localstack.bootstrap import LOCAL_TEAM
from localstack.settings import StackSettings
from query import automations as reads
from query.access import Caller
from query.client import connect
from query.reporting_output import render_table

APPEND_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Target:
    ingest_url: str
    api_key: str
    team: str
    clickhouse_url: str


def resolve_target(args: argparse.Namespace, env: Mapping[str, str]) -> Target:
    stack = StackSettings.from_env(env)
    found = local_secrets.load(stack.secrets_path)
    ingest_url = (
        args.ingest_url or env.get("CAIRN_INGEST_URL") or (stack.ingest_address if found else "")
    )
    api_key = args.api_key or env.get("CAIRN_API_KEY") or (found.admin_api_key if found else "")
    team = args.team or env.get("CAIRN_TEAM") or (LOCAL_TEAM if found else "")
    clickhouse = env.get("CAIRN_CLICKHOUSE_URL") or (
        stack.admin_clickhouse_url(found) if found else ""
    )
    for value, name in ((ingest_url, "CAIRN_INGEST_URL"), (api_key, "CAIRN_API_KEY")):
        if not value:
            raise ConfigError(f"{name} is not set and no local stack runs here", field=name)
    if not team:
        raise ConfigError("CAIRN_TEAM is not set and no local stack runs here", field="team")
    return Target(ingest_url, api_key, team, clickhouse)


def _caller(target: Target) -> Caller:
    return Caller("cli", frozenset({target.team}))


def _existing(target: Target, name: str) -> reads.RuleInfo | None:
    if not target.clickhouse_url:
        raise ConfigError("CAIRN_CLICKHOUSE_URL is not set and no local stack runs here")
    with closing(connect(target.clickhouse_url)) as client:
        found = reads.rules(client, _caller(target), team=target.team)
    return next((r for r in found if r.name == name), None)


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
    if target.clickhouse_url and _existing(target, args.name) is not None:
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
    if not target.clickhouse_url:
        raise ConfigError("CAIRN_CLICKHOUSE_URL is not set and no local stack runs here")
    with closing(connect(target.clickhouse_url)) as client:
        found = reads.rules(client, _caller(target), team=target.team)
    rows = [
        (
            r.name,
            r.trigger,
            r.condition or "-",
            r.project or "*",
            ", ".join(r.targets),
            "paused" if r.paused else "active",
        )
        for r in found
    ]
    print(render_table(["name", "trigger", "condition", "project", "actions", "state"], rows))
    return 0


def cmd_deliveries(args: argparse.Namespace) -> int:
    target = resolve_target(args, os.environ)
    if _existing(target, args.name) is None:
        raise NotFoundError(f"no rule {args.name!r} in team {target.team}", field="name")
    with closing(connect(target.clickhouse_url)) as client:
        found = reads.deliveries(
            client, _caller(target), rule=args.name, team=target.team, limit=args.limit
        )
    rows = [
        (
            d.delivery_id,
            d.status,
            d.attempts,
            d.trigger,
            d.action_kind,
            d.last_error[:60] or "-",
            d.last_attempt_at.strftime("%Y-%m-%d %H:%M:%S"),
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
    done: Callable[[reads.RuleInfo | None], bool],
    timeout_s: float = 15.0,
) -> None:
    """Wait until the change is visible to reads (the projection trails ingest by about a
    second), so ``ls`` right after ``add`` shows the rule. Accepted is durable either way."""
    if not target.clickhouse_url:
        return
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
            raise _error(exc) from exc


def _error(exc: grpc.RpcError) -> CairnError:
    code = exc.code()
    details = exc.details() or code.name
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return UnavailableError(f"ingest is unreachable: {details}")
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return AuthenticationError(details)
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return PermissionDeniedError(details)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return ValidationError(details)
    return CairnError(f"ingest refused the rule ({code.name}): {details}")
