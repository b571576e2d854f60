"""``cairn reproduce RUN_ID``: rebuild a run's code, environment and data, run it again, compare.

Registered through the ``cairn.cli`` entry-point group (``sdk/pyproject.toml``). This module is
an entry point, so it may read the environment (through :func:`cairn.config.resolve_settings`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cairn.artifacts import ArtifactStore, open_store
from cairn.config import Settings, resolve_settings
from cairn.errors import CairnError
from cairn.reproduce._engine import execute
from cairn.reproduce._plan import ReproduceOptions, build_plan, format_plan, parse_overrides
from cairn.reproduce._report import format_report
from cairn.reproduce._service import open_source


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "reproduce",
        help="re-run a recorded run from its code, environment and data, and compare",
        description="Clone the run's recorded commit and apply its uncommitted patch, build a "
        "virtualenv from its recorded packages, verify its input datasets' digests, run its "
        "command again as a new run (lineage: reproduces -> RUN_ID), and report how the "
        "results differ.",
    )
    parser.add_argument("run_id", metavar="RUN_ID", help="the run to reproduce")
    parser.add_argument(
        "--workdir", help="empty or new directory to work in (default ./reproduce-<RUN_ID>)"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the plan (and any refusal), change nothing"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a recorded param (repeatable)",
    )
    parser.add_argument(
        "--env",
        choices=("venv", "current"),
        default="venv",
        help="venv: a fresh virtualenv from the recorded packages (default); current: this one",
    )
    parser.add_argument(
        "--data",
        choices=("verify", "fetch"),
        default="verify",
        help="verify: refuse when an input's digest changed (default); fetch: get the recorded "
        "version from the artifact store by its content address",
    )
    parser.add_argument("--repo", help="a local clone (or URL) to take the commit from")
    parser.set_defaults(func=cmd_reproduce)


def _store(settings: Settings) -> ArtifactStore | None:
    try:
        return open_store(settings.artifact_location)
    except CairnError:
        return None


def cmd_reproduce(args: argparse.Namespace) -> int:
    settings = resolve_settings()
    source = open_source(settings)
    options = ReproduceOptions(
        workdir=Path(args.workdir or f"reproduce-{args.run_id}").expanduser().resolve(),
        overrides=parse_overrides(args.overrides),
        env=args.env,
        data=args.data,
        repo=args.repo,
    )
    record = source.get_run(args.run_id)
    store = _store(settings)
    plan = build_plan(record, options, store)
    if args.dry_run:
        print(format_plan(plan), end="")
        return 1 if plan.refusals and options.data == "verify" else 0
    result = execute(plan, source, store=store)
    print()
    print(format_report(result.report), end="")
    return 0 if result.exit_code == 0 else 1
