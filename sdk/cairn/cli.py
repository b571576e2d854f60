"""The ``cairn`` command.

The SDK owns the console script so a training machine with only ``cairn-sdk`` installed still has
it. Other distributions add verbs through the ``cairn.cli`` entry-point group: each entry point is a
``register(subparsers)`` function that adds parsers whose ``func(args) -> int`` does the work. The
service distribution adds ``up``, ``down``, ``status``, ``sql``, ``migrate`` and ``key`` that way.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

from cairn.errors import CairnError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cairn", description="Cairn experiment tracking.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for entry in sorted(entry_points(group="cairn.cli"), key=lambda e: e.name):
        try:
            register = entry.load()
        except ImportError as exc:  # one broken plugin must not take every verb down with it
            print(f"cairn: the {entry.name!r} commands are unavailable: {exc}", file=sys.stderr)
            continue
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except CairnError as exc:
        print(f"cairn {args.command}: error [{exc.code.value}]: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover - exercised through the console script
    sys.exit(main())
