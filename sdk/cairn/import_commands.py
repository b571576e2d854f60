"""``cairn import tensorboard|mlflow|neptune-export``: bring runs recorded elsewhere into Cairn;
``cairn export-bundle`` / ``cairn import-bundle``: move a project between Cairn installations.

Registered through the ``cairn.cli`` entry-point group (``sdk/pyproject.toml``). Each importer is
imported when its command runs, so ``cairn --help`` works without TensorBoard, MLflow or
pyarrow. Every import is idempotent, draws a progress bar on stderr, prints a summary and
takes ``--dry-run`` (read the source, send nothing, say what would be imported).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "import",
        help="import runs recorded by other tools (TensorBoard, MLflow, Neptune exports)",
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

    mlflow = sources.add_parser(
        "mlflow",
        help="import an MLflow tracking store (file store or a running mlflow server)",
        description="Experiments become projects; runs keep their params, tags, every metric "
        "point, status, start, parent and artifacts; registered models keep their versions and "
        "aliases. Cairn run ids are derived from MLflow's (kept as the tag mlflow.run_id). "
        "Importing again adds nothing.",
    )
    mlflow.add_argument(
        "--tracking-uri",
        required=True,
        metavar="URI",
        help="mlruns directory, file:///..., or http://host:port of an mlflow server",
    )
    mlflow.add_argument(
        "--experiment",
        action="append",
        default=[],
        metavar="NAME",
        help="import only this experiment (repeatable; default: every active experiment)",
    )
    mlflow.add_argument("--dry-run", action="store_true", help="read only; say what would come")
    mlflow.set_defaults(func=cmd_import_mlflow)

    neptune = sources.add_parser(
        "neptune-export",
        help="import what neptune-exporter wrote (Parquet runs plus downloaded files)",
        description="Every run under DATA_PATH (neptune-exporter's --data-path) becomes a run: "
        "single values become params, float series metrics (steps and timestamps kept), "
        "histogram series histograms, files and file series artifacts read from FILES_PATH; "
        "forks are recorded as the tags cairn.forked_from and cairn.fork_step. Importing "
        "again adds nothing.",
    )
    neptune.add_argument("data_path", metavar="DATA_PATH", help="neptune-exporter's --data-path")
    neptune.add_argument(
        "--files",
        required=True,
        metavar="FILES_PATH",
        help="neptune-exporter's --files-path (file attributes are read from there)",
    )
    neptune.add_argument(
        "--step-multiplier",
        type=int,
        default=1,
        metavar="N",
        help="multiply Neptune's decimal steps by N to make them whole (default 1)",
    )
    neptune.add_argument("--dry-run", action="store_true", help="read only; say what would come")
    neptune.set_defaults(func=cmd_import_neptune_export)

    export = subparsers.add_parser(
        "export-bundle",
        help="write a project's events and artifacts to a directory (for cairn import-bundle)",
        description="Every event of the project, as the log holds it (ids, sequences, actors), "
        "and the artifact files they name, written to DIR. Only a member of the project's team "
        "exports it.",
    )
    export.add_argument("--project", required=True, metavar="P", help="the project to export")
    export.add_argument("--out", required=True, metavar="DIR", help="the bundle directory")
    export.add_argument("--team", default="", help="the project's team (default: the key's)")
    export.add_argument("--dry-run", action="store_true", help="read only; say what would come")
    export.set_defaults(func=cmd_export_bundle)

    bundle = subparsers.add_parser(
        "import-bundle",
        help="replay a bundle from cairn export-bundle into this installation",
        description="Replays the bundle's events through ingest with your key, keeping every "
        "id, sequence and timestamp; the team is mapped by name (your key must be of the "
        "bundle's team); runs this installation already has are skipped, so importing again "
        "adds nothing. Artifacts are copied into this installation's artifact store.",
    )
    bundle.add_argument("directory", metavar="DIR", help="a directory cairn export-bundle wrote")
    bundle.add_argument(
        "--keep-people",
        action="store_true",
        help="record each event as acting on behalf of its original person (admin service key)",
    )
    bundle.add_argument("--dry-run", action="store_true", help="read only; say what would come")
    bundle.set_defaults(func=cmd_import_bundle)


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


def cmd_import_mlflow(args: argparse.Namespace) -> int:
    try:
        from cairn.mlflow_import import import_mlflow
    except ImportError as exc:
        print(f"cairn import mlflow: {exc}", file=sys.stderr)
        return 2
    summary = import_mlflow(args.tracking_uri, experiments=args.experiment, dry_run=args.dry_run)
    for line in summary.lines():
        print(line)
    return 0


def cmd_import_neptune_export(args: argparse.Namespace) -> int:
    try:
        from cairn.neptune_import import import_neptune_export
    except ImportError as exc:
        print(f"cairn import neptune-export: {exc}", file=sys.stderr)
        return 2
    summary = import_neptune_export(
        args.data_path, args.files, dry_run=args.dry_run, step_multiplier=args.step_multiplier
    )
    for line in summary.lines():
        print(line)
    return 0


def cmd_export_bundle(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cairn.bundles import export_bundle
    from cairn.config import resolve_settings

    summary = export_bundle(
        resolve_settings({}),
        project=args.project,
        out=Path(args.out),
        team=args.team,
        dry_run=args.dry_run,
    )
    for line in summary.lines():
        print(line)
    return 0


def cmd_import_bundle(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cairn.bundles import import_bundle
    from cairn.config import resolve_settings

    summary = import_bundle(
        resolve_settings({}),
        Path(args.directory),
        keep_people=args.keep_people,
        dry_run=args.dry_run,
    )
    for line in summary.lines():
        print(line)
    return 0
