"""``cairn import tensorboard LOGDIR``: bring runs recorded elsewhere into Cairn.

Registered through the ``cairn.cli`` entry-point group (``sdk/pyproject.toml``). The importer
itself is imported when the command runs, so ``cairn --help`` works without TensorBoard.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "import",
        help="import runs recorded by other tools (TensorBoard event files)",
        description="Import runs recorded by other tools as Cairn runs.",
    )
    sources = parser.add_subparsers(dest="source", metavar="SOURCE", required=True)
    tensorboard = sources.add_parser(
        "tensorboard",
        help="import TensorBoard event files: one run per directory holding them",
        description="Every directory under LOGDIR with events.out.tfevents.* files becomes a "
        "run: scalars become metrics (steps and wall times kept), HParams become params. "
        "Importing the same logdir again adds nothing.",
    )
    tensorboard.add_argument("logdir", metavar="LOGDIR", help="the TensorBoard log directory")
    tensorboard.add_argument("--project", help="project of the runs (default: CAIRN_PROJECT)")
    tensorboard.add_argument(
        "--name-prefix", default="", help="put this before every run's name (its relative path)"
    )
    tensorboard.set_defaults(func=cmd_import_tensorboard)


def cmd_import_tensorboard(args: argparse.Namespace) -> int:
    try:
        from cairn.tensorboard import import_logdir
    except ImportError as exc:
        print(f"cairn import tensorboard: {exc}", file=sys.stderr)
        return 2
    imported = import_logdir(args.logdir, project=args.project, name_prefix=args.name_prefix)
    for run in imported:
        state = "already imported" if run.skipped else "imported"
        print(f"  {run.run_id}  {run.name}  {run.points} points  {run.params} params  {state}")
    if not imported:
        print(f"no TensorBoard event files under {args.logdir}")
    return 0
