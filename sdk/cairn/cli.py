"""The ``cairn`` command.

The SDK owns the console script so a training machine with only ``cairn-sdk`` installed still has
it. Other distributions add verbs through the ``cairn.cli`` entry-point group: each entry point is a
``register(subparsers)`` function that adds parsers whose ``func(args) -> int`` does the work. The
service distribution adds ``up``, ``down``, ``status``, ``sql``, ``migrate`` and ``key`` that way.

Errors: this module is the one place that turns an exception into what a user reads. Every failure
is one line on standard error, ``cairn VERB: what went wrong [code]``, and a non-zero exit code
(2 for a :class:`~cairn.errors.CairnError`, 1 for anything unexpected, 130 for Ctrl-C). Verbs raise
``CairnError`` subclasses whose message says what to do; ``--debug`` (or ``CAIRN_DEBUG=1``) prints
the traceback as well.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from importlib.metadata import entry_points

from cairn.errors import CairnError

EXIT_CAIRN_ERROR = 2
EXIT_UNEXPECTED = 1
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cairn", description="Cairn experiment tracking.")
    parser.add_argument(
        "--debug",
        action="store_true",
        default=os.environ.get("CAIRN_DEBUG", "") not in ("", "0"),
        help="print the traceback of an error too (also CAIRN_DEBUG=1)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for entry in sorted(entry_points(group="cairn.cli"), key=lambda e: e.name):
        try:
            register = entry.load()
        except ImportError as exc:  # one broken plugin must not take every verb down with it
            print(f"cairn: the {entry.name!r} commands are unavailable: {exc}", file=sys.stderr)
            continue
        register(subparsers)
    return parser


def one_line(text: str) -> str:
    """``text`` on one line: the first non-empty line, stripped (engine errors carry pages)."""
    for line in str(text).splitlines():
        if line.strip():
            return line.strip()
    return ""


def describe(exc: BaseException) -> str:
    """What the user reads for ``exc``, without the ``cairn VERB:`` prefix."""
    if isinstance(exc, CairnError):
        return f"{one_line(exc.message)} [{exc.code.value}]"
    message = one_line(str(exc)) or "(no message)"
    return (
        f"unexpected {type(exc).__name__}: {message} "
        "(a bug in Cairn: rerun with --debug and report the traceback)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except SystemExit:
        raise
    except Exception as exc:  # the one place every failure becomes one readable line
        if args.debug:
            traceback.print_exc()
        print(f"cairn {args.command}: {describe(exc)}", file=sys.stderr)
        return EXIT_CAIRN_ERROR if isinstance(exc, CairnError) else EXIT_UNEXPECTED


if __name__ == "__main__":  # pragma: no cover - exercised through the console script
    sys.exit(main())
