"""The SDK's verbs of the ``cairn`` command: ``cairn sync``.

Registered through the ``cairn.cli`` entry-point group (``sdk/pyproject.toml``), so a training
machine with only ``cairn-sdk`` installed has them. This module is an entry point, so it may read
the environment (through :func:`cairn.config.resolve_settings`).
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from cairn.config import resolve_settings
from cairn.sync import STALL_TIMEOUT_S, spooled_runs, sync


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sync",
        help="upload runs left in the local spool (offline runs, crashed or cut-off processes)",
        description="Deliver every spooled run on this machine that no live process holds. "
        "Each spool is removed once the server acknowledged all of it.",
    )
    parser.add_argument("run_ids", nargs="*", metavar="RUN_ID", help="only these runs")
    parser.add_argument("--list", action="store_true", help="show what is spooled, send nothing")
    parser.add_argument("--dir", help="the Cairn directory (default: CAIRN_DIR or ~/.cairn)")
    parser.add_argument("--ingest-url", help="host:port of ingest (default: CAIRN_INGEST_URL)")
    parser.add_argument("--api-key", help="API key (default: CAIRN_API_KEY)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=STALL_TIMEOUT_S,
        help="give up on a run after this many seconds without progress (default %(default)s)",
    )
    parser.set_defaults(func=cmd_sync)


def cmd_sync(args: argparse.Namespace) -> int:
    settings = resolve_settings(
        {"dir": args.dir, "ingest_url": args.ingest_url, "api_key": args.api_key}
    )
    if args.list:
        runs = spooled_runs(settings)
        for spooled in runs:
            state = "in use" if spooled.in_use else spooled.mode
            print(f"  {spooled.run_id}  {state:<8} {spooled.bytes:>12,} bytes  {spooled.directory}")
        if not runs:
            print(f"nothing spooled in {settings.spool_root}")
        return 0
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    results = sync(settings, run_ids=set(args.run_ids), stall_timeout_s=args.timeout)
    if not results:
        print(f"nothing to sync in {settings.spool_root}")
        return 0
    for result in results:
        if result.complete:
            print(f"  {result.run_id}  delivered {result.delivered} events")
        elif result.remaining < 0:
            print(f"  {result.run_id}  skipped: {result.note}")
        else:
            print(
                f"  {result.run_id}  delivered {result.delivered}, {result.remaining} left"
                + (f": {result.note}" if result.note else "")
            )
    return 0 if all(r.complete or r.remaining < 0 for r in results) else 1
