"""``cairn automations add|ls|pause|resume|rm|deliveries``: automation rules from the command line.

Writes are rule events appended through ingest with the caller's API key, so ingest decides who
may (docs/permissions.md): the key must belong to the rule's team (``team_scope``). Each event is
validated here first with the same rules ingest applies, so a bad trigger, condition or URL is
reported before anything is sent. Reads go through the query service with the same key, so they
show the key holder's teams only (never ClickHouse directly).

Where things are: ``--ingest-url``/``CAIRN_INGEST_URL``, ``--api-key``/``CAIRN_API_KEY`` and
``--team``/``CAIRN_TEAM``; on a machine running the local stack, its ingest address, admin key
and team ``local`` are the defaults.

Parsing only: every ``cairn`` invocation loads this module, so the work (gRPC, validation)
is imported when a verb runs (:mod:`localstack._automation_commands`).
"""

from __future__ import annotations

import argparse
from typing import Any

TRIGGERS = (
    "run.failed",
    "run.finished",
    "run.killed",
    "run.stalled",
    "metric.threshold",
    "model.alias_set",
    "comment.mention",
    "share.received",
    "handover.received",
    "sweep.finished",
)


def _run(name: str) -> Any:
    def run(args: argparse.Namespace) -> int:
        from localstack import _automation_commands

        result: int = getattr(_automation_commands, name)(args)
        return result

    return run


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "automations",
        help="rules that notify a webhook, an email address or an inbox when something happens",
        description="Automation rules of your team (docs/automations.md).",
    )
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    add = verbs.add_parser("add", help="create a rule")
    add.add_argument("--name", required=True, help="the rule's name, unique in your team")
    add.add_argument(
        "--on",
        required=True,
        dest="trigger",
        choices=list(TRIGGERS),
        metavar="TRIGGER",
        help="what fires it: " + ", ".join(TRIGGERS),
    )
    add.add_argument("--where", default="", help="a condition in the filter language")
    add.add_argument("--project", default="", help="only events of this project")
    add.add_argument(
        "--minutes",
        type=float,
        default=0.0,
        help="run.stalled: minutes without any event from a running run",
    )
    action = add.add_mutually_exclusive_group(required=True)
    action.add_argument("--webhook", metavar="URL", help="POST a signed JSON body to URL")
    action.add_argument("--email", metavar="ADDR", help="send an email to ADDR")
    action.add_argument("--inbox", metavar="USER", help="put an item in USER's portal inbox")
    add.add_argument(
        "--secret", help="webhook signing secret (default: a new random one, shown once)"
    )
    add.set_defaults(func=_run("cmd_add"))

    ls = verbs.add_parser("ls", help="list your team's rules")
    ls.set_defaults(func=_run("cmd_ls"))
    for verb, text in (
        ("pause", "pause a rule"),
        ("resume", "resume a paused rule"),
        ("rm", "delete a rule"),
    ):
        p = verbs.add_parser(verb, help=text)
        p.add_argument("name", metavar="NAME")
        p.set_defaults(func=_run("cmd_state"))
    deliveries = verbs.add_parser("deliveries", help="a rule's latest deliveries")
    deliveries.add_argument("name", metavar="NAME")
    deliveries.add_argument("--limit", type=int, default=50)
    deliveries.set_defaults(func=_run("cmd_deliveries"))
    for p in (add, ls, deliveries, *(verbs.choices[v] for v in ("pause", "resume", "rm"))):
        p.add_argument("--team", help="your team (default: CAIRN_TEAM)")
        p.add_argument("--ingest-url", help="host:port of ingest (default: CAIRN_INGEST_URL)")
        p.add_argument("--api-key", help="API key (default: CAIRN_API_KEY)")
