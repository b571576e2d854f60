"""CLI verbs over ``cairn.Api``: ``cairn runs ls|show|edit``, ``cairn compare``, ``cairn diff``
and ``cairn export``.

They find the server and key like the SDK does (``--ingest-url``/``--api-key``, then ``CAIRN_*``,
then the local stack), read through the query service and edit through ingest, so each verb sees
and may change exactly what the key's holder may in the portal. Errors are Cairn errors with
their codes (printed by ``cairn``'s one handler).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from cairn.api import Api
from cairn.errors import ValidationError

TABLE_COLUMNS = ("run_id", "name", "project", "status", "owner", "created_at")


def _connection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ingest-url", help="host:port of Cairn (default: CAIRN_INGEST_URL)")
    parser.add_argument("--api-key", help="API key (default: CAIRN_API_KEY or the local stack)")


def register(subparsers: Any) -> None:
    runs = subparsers.add_parser("runs", help="list, show and edit runs")
    verbs = runs.add_subparsers(dest="runs_command", metavar="VERB", required=True)

    ls = verbs.add_parser("ls", help="list runs matching a filter")
    ls.add_argument("--project", help="only this project (default: every visible project)")
    ls.add_argument("--filter", help='e.g. "params.lr < 1e-3 and metrics.val_acc > 0.9"')
    ls.add_argument("--sort", help='e.g. "metrics.val_acc desc" (default: newest first)')
    ls.add_argument("--limit", type=int, help="at most this many runs (default: all)")
    ls.add_argument("--format", choices=["table", "csv", "json"], default="table")
    _connection(ls)
    ls.set_defaults(func=cmd_runs_ls)

    show = verbs.add_parser("show", help="one run: fields, params, tags, metrics, provenance")
    show.add_argument("run_id")
    show.add_argument("--format", choices=["text", "json"], default="text")
    _connection(show)
    show.set_defaults(func=cmd_runs_show)

    edit = verbs.add_parser("edit", help="rename, describe, tag, archive or restore a run")
    edit.add_argument("run_id")
    edit.add_argument("--name", help="new name")
    edit.add_argument("--description", help="new description (Markdown)")
    edit.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE", help="set a tag")
    edit.add_argument("--untag", action="append", default=[], metavar="KEY", help="remove a tag")
    state = edit.add_mutually_exclusive_group()
    state.add_argument("--archive", action="store_true", help="archive the run")
    state.add_argument("--restore", action="store_true", help="restore an archived run")
    _connection(edit)
    edit.set_defaults(func=cmd_runs_edit)

    compare = subparsers.add_parser("compare", help="runs side by side")
    compare.add_argument("run_ids", nargs="+", metavar="RUN_ID")
    compare.add_argument("--format", choices=["table", "csv", "json"], default="table")
    _connection(compare)
    compare.set_defaults(func=cmd_compare)

    diff = subparsers.add_parser("diff", help="what changed from run A to run B")
    diff.add_argument("run_a", metavar="A")
    diff.add_argument("run_b", metavar="B")
    _connection(diff)
    diff.set_defaults(func=cmd_diff)

    export = subparsers.add_parser(
        "export", help="runs, params, tags and every metric point to Parquet, CSV or JSON files"
    )
    export.add_argument("--project", help="only this project (default: every visible project)")
    export.add_argument("--filter", help="only runs matching this filter")
    export.add_argument("--format", choices=["parquet", "csv", "json"], default="parquet")
    export.add_argument("--out", required=True, help="directory to write the files into")
    _connection(export)
    export.set_defaults(func=cmd_export)


def _api(args: argparse.Namespace) -> Api:
    return Api(ingest_url=args.ingest_url, api_key=args.api_key)


def _cell(value: Any) -> str:
    if value is None or value != value:  # None and NaN
        return ""
    if hasattr(value, "isoformat"):
        return str(value.isoformat(sep=" ", timespec="seconds"))
    return str(value)


def _table(columns: list[str], rows: list[list[Any]]) -> str:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def _print_frame(frame: Any, format: str, *, index: bool = False) -> None:
    if format == "csv":
        sys.stdout.write(frame.to_csv(index=index))
    elif format == "json":
        sys.stdout.write(
            frame.to_json(orient="records" if not index else "columns", date_format="iso")
        )
        sys.stdout.write("\n")
    else:
        print(_table(list(frame.columns), frame.values.tolist()))


def cmd_runs_ls(args: argparse.Namespace) -> int:
    with _api(args) as api:
        frame = api.runs(
            project=args.project, filter=args.filter, order_by=args.sort, limit=args.limit
        )
    if args.format == "table":
        metrics = [c for c in frame.columns if c.startswith("metrics.")]
        frame = frame[[*TABLE_COLUMNS, *metrics]]
    _print_frame(frame, args.format)
    return 0


def cmd_runs_show(args: argparse.Namespace) -> int:
    with _api(args) as api:
        run = api.run(args.run_id)
    if args.format == "json":
        from google.protobuf.json_format import MessageToDict

        print(json.dumps(MessageToDict(run.message), indent=2, sort_keys=True))
        return 0
    info = run.info
    lines = [f"{k}: {_cell(v)}" for k, v in info.items() if _cell(v) != ""]
    for title, values in (
        ("params", run.params),
        ("tags", run.tags),
        ("metrics (last)", run.summary),
    ):
        if values:
            lines.append(f"{title}:")
            lines += [f"  {k} = {_cell(v)}" for k, v in values.items()]
    if run.code is not None:
        dirty = " (dirty)" if run.code.dirty else ""
        lines.append(f"code: {run.code.git_remote} {run.code.branch} {run.code.commit}{dirty}")
    if run.environment is not None:
        env = run.environment
        lines.append(f"environment: Python {env.python_version} on {env.os} {env.os_version}")
    for dataset in run.datasets:
        lines.append(f"dataset: {dataset.name} {dataset.uri} sha256:{dataset.digest[:12]}")
    if run.command_line:
        lines.append(f"command: {' '.join(run.command_line)}")
    print("\n".join(lines))
    return 0


def _tags(pairs: list[str]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValidationError(
                f"--tag takes KEY=VALUE, got {pair!r}", field="tag", rule="format"
            )
        tags[key] = value
    return tags


def cmd_runs_edit(args: argparse.Namespace) -> int:
    tags = _tags(args.tag)
    changes = [args.name, args.description, tags, args.untag, args.archive, args.restore]
    if not any(c for c in changes if c is not None):
        raise ValidationError(
            "nothing to change: give --name, --description, --tag, --untag, --archive or --restore",
            field="run_id",
            rule="empty",
        )
    with _api(args) as api:
        run = api.run(args.run_id)
        done: list[str] = []
        if args.name is not None:
            run.rename(args.name)
            done.append(f"renamed to {args.name!r}")
        if args.description is not None:
            run.set_description(args.description)
            done.append("description set")
        if tags:
            run.set_tags(tags)
            done.append("tags set: " + ", ".join(f"{k}={v}" for k, v in tags.items()))
        if args.untag:
            run.remove_tags(args.untag)
            done.append("tags removed: " + ", ".join(args.untag))
        if args.archive:
            run.archive()
            done.append("archived")
        if args.restore:
            run.restore()
            done.append("restored")
    print(f"{args.run_id}: " + "; ".join(done))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    with _api(args) as api:
        table = api.compare(args.run_ids)
    if args.format == "table":
        shown = table.reset_index(names="field")
        print(_table(list(shown.columns), shown.values.tolist()))
        same = ", ".join(
            f"{what} {'same' if table.attrs[f'same_{what}'] else 'differs'}"
            for what in ("code", "environment", "datasets")
        )
        print(same)
    else:
        _print_frame(table, args.format, index=True)
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from cairn.reproduce._report import format_report
    from cairn.reproduce._service import QueryServiceSource, report_between

    with _api(args) as api:
        print(api.diff(args.run_a, args.run_b))
        source = QueryServiceSource(api.settings, api._client)
        report = report_between(source, args.run_a, args.run_b)
        if report is not None:  # one reproduces the other: the reproduction report too
            print()
            print(format_report(report), end="")
    return 0


class _ProgressBar:
    """One line on stderr, redrawn at most five times a second: rows per table and runs."""

    def __init__(self) -> None:
        self._rows: dict[str, int] = {}
        self._shown = 0.0

    def __call__(self, table: str, rows: int, total_runs: int) -> None:
        self._rows[table] = rows
        now = time.monotonic()
        if now - self._shown >= 0.2:
            self._shown = now
            self.draw(total_runs)

    def draw(self, total_runs: int, *, end: str = "") -> None:
        runs = self._rows.get("runs", 0)
        width = 30
        filled = int(width * runs / total_runs) if total_runs else width
        bar = "#" * filled + "-" * (width - filled)
        points = self._rows.get("metrics", 0)
        sys.stderr.write(f"\rexport [{bar}] {runs}/{total_runs} runs, {points:,} points{end}")
        sys.stderr.flush()


def cmd_export(args: argparse.Namespace) -> int:
    progress = _ProgressBar()
    with _api(args) as api:
        counts = api.export(
            args.out,
            project=args.project,
            filter=args.filter,
            format=args.format,
            progress=progress,
        )
    progress.draw(counts["runs"], end="\n")
    summary = ", ".join(f"{rows:,} {table}" for table, rows in counts.items())
    print(f"wrote {summary} to {args.out}")
    return 0
