"""``cairn models``: the model registry from the shell.

::

    cairn models ls                                   # every model you may see
    cairn models show churn                           # versions, aliases, alias history
    cairn models register RUN_ID model.pkl --name churn
    cairn models alias churn 3 production --reason "AUC +0.04 in shadow"
    cairn models unalias churn staging --reason "shadow test over"
    cairn models download churn@production --out ./model
    cairn models report churn@production --format html --out churn.html

Tables for people by default, ``--format json`` for scripts. Each verb calls the same function
as the Python API (:mod:`cairn.models`), so the rules and errors are the same.
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from cairn import models
from cairn._registry import ModelVersion
from cairn.errors import NotFoundError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "models",
        help="the model registry: list, show, register, alias, download, report",
        description="Register model versions, move aliases with a reason, fetch and explain them.",
    )
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    ls = verbs.add_parser("ls", help="every registered model you may see")
    _format(ls)
    ls.set_defaults(func=cmd_ls)

    show = verbs.add_parser("show", help="a model's versions, aliases and alias history")
    show.add_argument("name")
    _format(show)
    show.set_defaults(func=cmd_show)

    reg = verbs.add_parser("register", help="register an artifact a run logged as a new version")
    reg.add_argument("run_id")
    reg.add_argument("artifact", help="the artifact's name as the run logged it")
    reg.add_argument("--name", required=True, help="the model's name")
    reg.add_argument("--alias", action="append", default=[], help="set this alias (repeatable)")
    reg.add_argument("--description", default="")
    _format(reg)
    reg.set_defaults(func=cmd_register)

    alias = verbs.add_parser("alias", help="point an alias at a version (moving it)")
    alias.add_argument("name")
    alias.add_argument("version", type=int)
    alias.add_argument("alias")
    alias.add_argument("--reason", required=True, help="why; kept in the alias history")
    alias.set_defaults(func=cmd_alias)

    unalias = verbs.add_parser("unalias", help="remove an alias")
    unalias.add_argument("name")
    unalias.add_argument("alias")
    unalias.add_argument("--reason", default="", help="why; kept in the alias history")
    unalias.set_defaults(func=cmd_unalias)

    archive = verbs.add_parser("archive", help="archive a version")
    archive.add_argument("name")
    archive.add_argument("version", type=int)
    archive.add_argument("--reason", default="")
    archive.set_defaults(func=cmd_archive)

    download = verbs.add_parser("download", help="copy a version's files, verified, to a directory")
    download.add_argument("reference", help="NAME, NAME:VERSION or NAME@ALIAS")
    download.add_argument("--out", required=True, help="the directory to copy into")
    download.set_defaults(func=cmd_download)

    report = verbs.add_parser("report", help="how a model version was built (provenance report)")
    report.add_argument("reference", help="NAME, NAME:VERSION or NAME@ALIAS")
    report.add_argument("--format", choices=models.REPORT_FORMATS, default="md")
    report.add_argument("--out", help="write to this file (default: standard output)")
    report.set_defaults(func=cmd_report)


def _format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format", choices=("table", "json"), default="table", help="table (default) or json"
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _print_json(value: Any) -> None:
    print(json.dumps(_jsonable(value), indent=2, sort_keys=True))


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    for row in [list(headers), *cells]:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


def cmd_ls(args: argparse.Namespace) -> int:
    found = models.list_models()
    if args.format == "json":
        _print_json([asdict(m) for m in found])
        return 0
    if not found:
        print("no registered models (or none visible to you)")
        return 0
    _table(
        ["name", "team", "project", "versions", "latest", "aliases"],
        [
            (
                m.name,
                m.team,
                m.project,
                m.versions,
                m.latest_version,
                ", ".join(f"{a}→v{v}" for a, v in sorted(m.aliases.items())),
            )
            for m in found
        ],
    )
    return 0


def _version_rows(versions: Sequence[ModelVersion]) -> list[tuple[object, ...]]:
    return [
        (
            v.version,
            v.stage,
            ", ".join(v.aliases),
            v.run_id,
            v.sha256[:12],
            v.created_by,
            _when(v.created_at),
            v.description.splitlines()[0] if v.description else "",
        )
        for v in versions
    ]


def cmd_show(args: argparse.Namespace) -> int:
    versions = models.model_versions(args.name)
    if not versions:
        raise NotFoundError(
            f"name: no model {args.name!r} (or it is not visible to you)", field="name"
        )
    history = models.model_alias_history(args.name)
    if args.format == "json":
        _print_json(
            {
                "name": versions[0].name,
                "versions": [asdict(v) for v in versions],
                "alias_history": [asdict(h) for h in history],
            }
        )
        return 0
    first = versions[0]
    print(f"{first.name}  (team {first.team}, project {first.project})\n")
    headers = ["version", "stage", "aliases", "run", "sha256", "by", "created", "description"]
    _table(headers, _version_rows(versions))
    if history:
        print("\nalias and stage history")
        _table(
            ["when", "change", "version", "reason", "by"],
            [
                (
                    _when(h.occurred_at),
                    f"{h.kind} {'removed ' if h.removed else ''}{h.name}",
                    "" if h.removed else h.version,
                    h.reason,
                    h.actor,
                )
                for h in history
            ],
        )
    return 0


def cmd_register(args: argparse.Namespace) -> int:
    mv = models.register_model(
        args.run_id, args.artifact, args.name, aliases=args.alias, description=args.description
    )
    if args.format == "json":
        _print_json(asdict(mv))
    else:
        aliases = f" ({', '.join(mv.aliases)})" if mv.aliases else ""
        print(f"registered {mv.name} version {mv.version}{aliases} from run {mv.run_id}")
    return 0


def cmd_alias(args: argparse.Namespace) -> int:
    models.set_model_alias(args.name, args.version, args.alias, reason=args.reason)
    print(f"{args.name}@{args.alias} -> version {args.version}")
    return 0


def cmd_unalias(args: argparse.Namespace) -> int:
    models.delete_model_alias(args.name, args.alias, reason=args.reason)
    print(f"removed alias {args.alias} from {args.name}")
    return 0


def cmd_archive(args: argparse.Namespace) -> int:
    models.archive_model_version(args.name, args.version, reason=args.reason)
    print(f"archived {args.name} version {args.version}")
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    version = models.resolve_model(args.reference)
    cached = models.download(version, models.model_cache())
    out = Path(args.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    target = out / cached.name
    if cached.is_dir():
        shutil.copytree(cached, target, dirs_exist_ok=True)
    else:
        shutil.copyfile(cached, target)
    print(f"{version.name} version {version.version} (sha256 {version.sha256}) -> {target}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    text = models.model_report(args.reference, format=args.format)
    if args.out:
        Path(args.out).expanduser().write_text(text, encoding="utf-8")
        print(f"wrote {args.out}")
    else:
        print(text, end="" if text.endswith("\n") else "\n")
    return 0
