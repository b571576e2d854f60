"""The ``cairn key`` verb: create, list and revoke API keys (registered in the ``cairn.cli``
entry-point group as ``keys = "ingest.cli:register"``).

``cairn key create --team T --role writer`` prints the new key on stdout and nothing else, once;
it cannot be shown again (only its hash is kept). Kafka's address and the identity topic come
from ``--bootstrap``/``--topic`` or ``CAIRN_KAFKA_BOOTSTRAP``/``CAIRN_IDENTITY_TOPIC``; the key is
hashed with ``CAIRN_API_KEY_PEPPER`` when the installation's ingest has one.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import UTC, datetime
from typing import Any

from domain.identity import Role

# ingest.keys pulls in aiokafka and the validation stack: imported by the verbs that use it, so
# every other `cairn` verb starts without it.


def register(subparsers: Any) -> None:
    key = subparsers.add_parser("key", help="create, list and revoke API keys")
    actions = key.add_subparsers(dest="key_action", metavar="ACTION", required=True)

    create = actions.add_parser("create", help="issue a new API key and print it once")
    create.add_argument("--team", required=True, help="team slug the key writes for")
    create.add_argument("--role", choices=[r.value for r in Role], default=Role.WRITER.value)
    create.add_argument("--name", default="", help="a label such as 'ci' or 'alice laptop'")
    create.add_argument("--user", default="", help="user id, for a key that acts as a person")
    create.set_defaults(func=_create)

    listing = actions.add_parser("list", help="list API keys (ids, never the keys)")
    listing.add_argument("--team", default=None)
    listing.set_defaults(func=_list)

    revoke = actions.add_parser("revoke", help="revoke an API key by its id")
    revoke.add_argument("key_id")
    revoke.add_argument("--reason", default="")
    revoke.set_defaults(func=_revoke)

    for parser in (create, listing, revoke):
        parser.add_argument("--bootstrap", default=None, help="Kafka host:port")
        parser.add_argument("--topic", default=None, help="identity topic")


def _where(args: argparse.Namespace) -> tuple[str, str]:
    from ingest.settings import IngestSettings

    settings = IngestSettings.from_env(os.environ)
    return args.bootstrap or settings.kafka_bootstrap, args.topic or settings.identity_topic


def _create(args: argparse.Namespace) -> int:
    from ingest.keys import issue_key_directly
    from ingest.settings import IngestSettings

    bootstrap, topic = _where(args)
    key = asyncio.run(
        issue_key_directly(
            bootstrap,
            team=args.team,
            role=args.role,
            name=args.name,
            user_id=args.user,
            topic=topic,
            pepper=IngestSettings.from_env(os.environ).api_key_pepper,
        )
    )
    print(key)
    key_id = key.split("_")[1]
    print(
        f"issued {args.role} key {key_id} for team {args.team}; it is shown only now",
        file=sys.stderr,
    )
    return 0


def _list(args: argparse.Namespace) -> int:
    from ingest.keys import list_keys

    bootstrap, topic = _where(args)
    records = asyncio.run(list_keys(bootstrap, team=args.team, topic=topic))
    rows = [("KEY ID", "TEAM", "ROLE", "NAME", "USER", "STATUS", "ISSUED (UTC)")]
    for r in records:
        status = f"revoked: {r.revoked_reason}" if r.revoked else "active"
        issued = datetime.fromtimestamp(r.issued_at_ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M")
        rows.append((r.key_id, r.team, r.role.value, r.name, r.user_id or "-", status, issued))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return 0


def _revoke(args: argparse.Namespace) -> int:
    from ingest.keys import revoke_key_directly

    bootstrap, topic = _where(args)
    record = asyncio.run(
        revoke_key_directly(bootstrap, args.key_id, reason=args.reason, topic=topic)
    )
    print(f"revoked key {record.key_id} of team {record.team}; ingest rejects it within seconds")
    return 0
