"""Per-team restriction of the reporting views, as DDL for a real ClickHouse server.

On a server with access control, each team gets a role ``reporting_<team>`` that may read the
reporting views and, through a row policy on every view, only its own team's rows::

    CREATE ROLE IF NOT EXISTS reporting_risk;
    GRANT SELECT ON cairn_reporting.* TO reporting_risk;
    CREATE ROW POLICY IF NOT EXISTS reporting_risk ON cairn_reporting.runs
        FOR SELECT USING team = 'risk' TO reporting_risk;
    ...

Users are then granted the role of each team whose reports they may read. Once a table (view)
has any row policy, ClickHouse hides all of its rows from users no policy applies to, so a
reporting user without a team role sees nothing (the ``all_teams`` role, with ``USING 1``, is
for people who read across teams).

The engine embedded by the local stack (chdb) has no access control: ``CREATE ROW POLICY`` is
refused there (ACCESS_DENIED, "no access control in embedded mode"), so locally the read-only
``reporting`` user sees every team. docs/sql.md says so and shows how to apply this output.

Run ``python -m query.row_policies --team risk --team fraud [--database cairn]`` to print it.
Team slugs come from Cairn's own identity events, which allow only ``[a-z0-9][a-z0-9_-]*``; that
is checked again here, since DDL cannot take bound parameters.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable, Sequence

from cairn_contract.errors import ValidationError
from query.ddl import SINGLE_NODE, Topology
from query.reporting_schema import REPORTING_VIEWS, reporting_database
from query.sql import quote_identifier as q

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")
ALL_TEAMS_ROLE = "reporting_all_teams"


def _role(team: str) -> str:
    if not _SLUG.match(team):
        raise ValidationError(
            f"team {team!r} is not a team slug ([a-z0-9][a-z0-9_-]*, at most 64)",
            field="team",
            rule="slug_format",
        )
    return f"reporting_{team}"


def render_row_policies(
    teams: Iterable[str], database: str = "cairn", topology: Topology = SINGLE_NODE
) -> list[str]:
    """The statements giving each team a role restricted to its rows in every reporting view."""
    reporting = q(reporting_database(database))
    cluster = topology.on_cluster
    statements: list[str] = []
    roles = [(ALL_TEAMS_ROLE, "1")] + [
        (_role(team), f"team = '{team}'") for team in sorted(set(teams))
    ]
    for role, condition in roles:
        statements.append(f"CREATE ROLE IF NOT EXISTS {q(role)}{cluster}")
        statements.append(f"GRANT{cluster} SELECT ON {reporting}.* TO {q(role)}")
        for view in REPORTING_VIEWS:
            statements.append(
                f"CREATE ROW POLICY OR REPLACE {q(role)}{cluster} ON {reporting}.{q(view.name)}"
                f" FOR SELECT USING {condition} TO {q(role)}"
            )
    return statements


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--team", action="append", default=[], help="a team slug (repeatable)")
    parser.add_argument("--database", default="cairn", help="the projection database")
    parser.add_argument("--cluster", help="render ON CLUSTER statements for this cluster")
    args = parser.parse_args(argv)
    topology = Topology(cluster=args.cluster) if args.cluster else SINGLE_NODE
    for statement in render_row_policies(args.team, args.database, topology):
        print(statement + ";")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
