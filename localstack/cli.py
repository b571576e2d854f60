"""Stack verbs of the ``cairn`` command: ``up``, ``down``, ``status``, ``sql``, ``migrate``.

Registered through the ``cairn.cli`` entry-point group (see ``sdk/cairn/cli.py``). This module is
an entry point, so it is where the environment is read.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

from cairn_contract.errors import ConfigError, ValidationError
from localstack import secrets as local_secrets
from localstack.secrets import LocalSecrets
from localstack.settings import PROFILES, StackSettings

_SQL_FORMATS = {
    "csv": "CSVWithNames",
    "tsv": "TabSeparatedWithNames",
    "json": "JSONEachRow",
    "parquet": "Parquet",
}


def register(subparsers: Any) -> None:
    up = subparsers.add_parser(
        "up", help="start the local stack and wait until every part is healthy"
    )
    up.add_argument(
        "--profile",
        choices=list(PROFILES),
        default=None,
        help="single (default: one of each part) or cluster (3 Kafka nodes, RF 3; 2 ingest; "
        "3 processors workers); without it, the profile this home last ran",
    )
    up.add_argument(
        "--demo",
        action="store_true",
        help="also seed demo teams, runs, a model and discussion (once)",
    )
    up.set_defaults(func=cmd_up)
    down = subparsers.add_parser("down", help="stop the local stack")
    down.set_defaults(func=cmd_down)
    status = subparsers.add_parser("status", help="show each part's health and address")
    status.set_defaults(func=cmd_status)
    sql = subparsers.add_parser(
        "sql",
        help="run a SQL query against the store and print a table",
        description="Run one SQL statement as your team's read-only reporting user of the local "
        "stack (found from any directory; it sees your team's rows plus what is shared with it) "
        "or CAIRN_SQL_URL. Values go in as bound parameters: write {name:Type} in the query and "
        "pass --param name=value.",
    )
    sql.add_argument(
        "query", nargs="?", help="the SQL to run (your team's read-only reporting user by default)"
    )
    sql.add_argument(
        "--url",
        action="store_true",
        help="print the ClickHouse URL (with credentials) cairn sql uses, for other clients",
    )
    sql.add_argument(
        "--param",
        "-p",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="bind VALUE to the {NAME:Type} placeholder (repeatable); the engine parses it as Type",
    )
    sql.add_argument("--format", choices=["table", *_SQL_FORMATS], default="table")
    sql.add_argument("--output", "-o", help="write to this file instead of standard output")
    who = sql.add_mutually_exclusive_group()
    who.add_argument("--admin", action="store_true", help="run as the admin user (local stack)")
    who.add_argument(
        "--team",
        help="read as this team's reporting user: its rows plus what is shared with it"
        " (default: CAIRN_TEAM, else the local stack's team)",
    )
    who.add_argument(
        "--all-teams",
        action="store_true",
        help="read every team's rows as the cross-team reporting user (an admin's choice)",
    )
    sql.set_defaults(func=cmd_sql)
    migrate = subparsers.add_parser("migrate", help="apply versioned ClickHouse schema migrations")
    migrate.add_argument(
        "--print-cluster-ddl",
        metavar="CLUSTER",
        help="print the DDL for a replicated ClickHouse cluster of this name instead of applying it",
    )
    migrate.set_defaults(func=cmd_migrate)


def _settings() -> StackSettings:
    return StackSettings.from_env(os.environ)


def _admin_url(settings: StackSettings, secrets: LocalSecrets) -> str:
    return settings.explicit_clickhouse_url or settings.admin_clickhouse_url(secrets)


def cmd_up(args: argparse.Namespace) -> int:
    from localstack.bootstrap import bootstrap_stack

    settings = _settings()
    if args.profile is not None:
        settings = settings.with_profile(args.profile)
    summary = bootstrap_stack(settings, os.environ, log=lambda line: print(line, flush=True))
    if args.demo:
        from localstack.demo import seed

        seed(settings, log=lambda line: print(line, flush=True))
    print()
    print(f"Cairn is up ({settings.profile} profile):")
    for name, address in summary.addresses.items():
        print(f"  {name:<13} {address}")
    print(f"  {'api key':<13} {summary.api_key}   (local admin; the SDK finds it automatically)")
    print(f"  {'logs':<13} {settings.logs_dir}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from localstack.stack import Supervisor, parts

    settings = _settings()
    supervisor = Supervisor(settings)
    secrets = local_secrets.load(settings.secrets_path) or LocalSecrets("", "")
    names = [part.name for part in reversed(parts(settings, secrets, os.environ))]
    # Anything else with a PID file (a part of another profile) is stopped too, last.
    names += [name for name in supervisor.recorded() if name not in names]
    for name, was_running in supervisor.stop_all(names):
        print(f"  {name:<13} {'stopped' if was_running else 'not running'}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from localstack.stack import PartStatus, Supervisor, parts, query_status

    settings = _settings()
    supervisor = Supervisor(settings)
    secrets = local_secrets.load(settings.secrets_path) or LocalSecrets("", "")
    all_healthy = True
    statuses: list[PartStatus] = []
    print(f"  {settings.profile} profile, home {settings.home}")
    for part in parts(settings, secrets, os.environ):
        statuses.append(supervisor.status(part))
        if part.name.startswith("ingest"):
            statuses.append(query_status(statuses[-1]))
    for status in statuses:
        all_healthy &= status.healthy
        pid = str(status.pid) if status.pid else "-"
        print(f"  {status.name:<13} {status.state:<10} pid {pid:<8} {status.address}")
    return 0 if all_healthy else 1


def _sql_url(settings: StackSettings, args: argparse.Namespace) -> str:
    """The URL ``cairn sql`` connects to: CAIRN_SQL_URL if set (and no user was chosen), else on
    the local stack the caller's team's reporting user (``--team``, CAIRN_TEAM, else the stack's
    own team), the cross-team reporting user with ``--all-teams``, the admin with ``--admin``."""
    admin = bool(getattr(args, "admin", False))
    all_teams = bool(getattr(args, "all_teams", False))
    team = getattr(args, "team", None)
    explicit = settings.explicit_sql_url
    if explicit and not (admin or all_teams or team):
        return explicit
    secrets = local_secrets.load(settings.secrets_path)
    if secrets is None:
        raise ConfigError(
            f"no local stack found (no credentials in {settings.secrets_path}): "
            "start one with `make up`, or set CAIRN_SQL_URL to a ClickHouse URL",
            field="CAIRN_SQL_URL",
        )
    if admin:
        return _admin_url(settings, secrets)
    if all_teams:
        return settings.reporting_clickhouse_url(secrets)
    from localstack.bootstrap import LOCAL_TEAM, ensure_team_reporting_user
    from query.row_policies import check_team  # imports pandas: only `cairn sql` pays for it

    if not secrets.team_reporting_key:
        secrets = local_secrets.load_or_create(settings.secrets_path)
    return ensure_team_reporting_user(
        settings, secrets, check_team(team or settings.sql_team or LOCAL_TEAM)
    )


def cmd_sql(args: argparse.Namespace) -> int:
    from query.adhoc_sql import run_sql

    # clickhouse-connect logs a failed request before raising; the raised error is what we print.
    logging.getLogger("clickhouse_connect").setLevel(logging.CRITICAL)
    settings = _settings()
    url = _sql_url(settings, args)
    if args.url:
        print(url)
        return 0
    if not args.query:
        raise ValidationError(
            'give the SQL to run, e.g. cairn sql "SELECT count() FROM cairn_reporting.runs"',
            field="query",
            rule="required",
        )
    output = run_sql(
        url,
        args.query,
        params=args.param,
        fmt=None if args.format == "table" else _SQL_FORMATS[args.format],
    )
    if args.output:
        with open(args.output, "wb") as handle:
            handle.write(output)
    else:
        sys.stdout.buffer.write(output)
        sys.stdout.flush()
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from query.client import ClickHouseTarget, connect
    from query.ddl import Topology
    from query.migrations import MIGRATIONS, apply_migrations

    if args.print_cluster_ddl:
        for migration in MIGRATIONS:
            print(f"-- {migration.version:04d} {migration.name}")
            for statement in migration.rendered("cairn", Topology(cluster=args.print_cluster_ddl)):
                print(statement.strip() + ";\n")
        return 0

    settings = _settings()
    secrets = local_secrets.load(settings.secrets_path)
    url = settings.explicit_clickhouse_url or (_admin_url(settings, secrets) if secrets else None)
    if url is None:
        raise ConfigError(
            "no local stack found: set CAIRN_CLICKHOUSE_URL or start one with `make up`",
            field="CAIRN_CLICKHOUSE_URL",
        )
    target = ClickHouseTarget.from_url(url)
    applied = apply_migrations(connect(url, database="default"), target.database)
    if applied:
        for migration in applied:
            print(f"applied {migration.version:04d} {migration.name}")
    else:
        print(f"{target.database} is up to date")
    return 0
