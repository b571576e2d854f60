"""Per-team restriction of the reporting views: one condition per (team, view), used twice.

A team's reporting credential sees, in every view of ``<database>_reporting``, the rows of its
own team plus what is shared with the team (``shares_current`` rows that are active and name
the team as grantee): a whole project (``target_kind = 'project'``: rows whose ``(team,
project)`` is that sharing team's project) or one object (a run, a model: rows that belong to
it, e.g. ``('run', run_id)``). :func:`team_view_condition` writes that rule as one boolean SQL
expression per view, with the shares read by a subquery at query time, so a share (or unshare)
counts from the next statement on.

The same condition is enforced in two places:

* **On a real ClickHouse server**, as row policies (:func:`render_row_policies`): each team gets
  a role ``reporting_<team>`` that may read the reporting views, and a row policy on every view
  restricts it with the condition. The subquery reads ``shares_current``, so the role is also
  granted SELECT on it, itself restricted by a row policy to the shares naming the team::

      CREATE ROLE IF NOT EXISTS reporting_risk;
      GRANT SELECT ON cairn_reporting.* TO reporting_risk;
      GRANT SELECT ON cairn.shares_current TO reporting_risk;
      CREATE ROW POLICY OR REPLACE reporting_risk ON cairn.shares_current FOR SELECT
          USING grantee_kind = 'team' AND grantee_id = 'risk' TO reporting_risk;
      CREATE ROW POLICY OR REPLACE reporting_risk ON cairn_reporting.runs FOR SELECT
          USING team = 'risk' OR (team, project) IN (SELECT ...) OR ('run', run_id) IN (...)
          TO reporting_risk;
      ...

  Once a table (view) has any row policy, ClickHouse hides all of its rows from users no
  policy applies to; the ``reporting_all_teams`` role (``USING 1``) is for people who read
  across teams.
* **On the local endpoint** (chdb has no access control: ``CREATE ROW POLICY`` is refused
  there), ``localstack/clickhouse_http.py`` serves per-team users by setting the engine's
  ``additional_table_filters`` to this condition for every view before the request runs, on a
  read-only connection the request cannot change settings on.

Which columns a view's rule uses depends on its columns (:data:`OBJECT_COLUMNS`): the endpoint
passes each view's live columns; :func:`render_row_policies` uses :data:`VIEW_SCOPE_COLUMNS`,
which a test keeps equal to the live views.

Run ``python -m query.row_policies --team risk --team fraud [--database cairn]`` to print the
DDL. Team slugs come from Cairn's own identity events, which allow only ``[a-z0-9][a-z0-9_-]*``;
that is checked again here, since DDL (and a setting value) cannot take bound parameters.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Collection, Iterable, Mapping, Sequence

from cairn_contract.errors import ValidationError
from query.ddl import SINGLE_NODE, Topology
from query.reporting_schema import REPORTING_VIEWS, reporting_database
from query.sql import quote_identifier as q

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")
ALL_TEAMS_ROLE = "reporting_all_teams"
SHARES_VIEW = "shares_current"

# The (kind, id) column pairs that name the object a row belongs to, in order of preference for
# the single-kind ones: a view with ``model_id`` is about models even if it has ``run_id``.
_SINGLE_KIND = (("model_id", "'model'"), ("run_id", "'run'"))
OBJECT_COLUMNS = (
    ("target_kind", "target_id"),
    ("source_kind", "source_id"),
    ("aggregate_kind", "aggregate_id"),
)
SCOPE_COLUMNS = frozenset(
    {"team", "project", "model_id", "run_id", *(c for pair in OBJECT_COLUMNS for c in pair)}
)

# The columns each reporting view has among SCOPE_COLUMNS (tests/security/test_sql_teams.py
# checks this against the views the migrations create, so a new view must be added here).
VIEW_SCOPE_COLUMNS: Mapping[str, frozenset[str]] = {
    "runs": frozenset({"team", "project", "run_id"}),
    "metrics": frozenset({"team", "project", "run_id"}),
    "metric_summaries": frozenset({"team", "project", "run_id"}),
    "metric_earlier_attempts": frozenset({"team", "project", "run_id"}),
    "histograms": frozenset({"team", "project", "run_id"}),
    "params": frozenset({"team", "project", "run_id"}),
    "tags": frozenset({"team", "project", "run_id"}),
    "lineage": frozenset(
        {"team", "project", "source_kind", "source_id", "target_kind", "target_id"}
    ),
    "run_branches": frozenset({"team", "project", "run_id"}),
    "datasets": frozenset({"team", "project", "run_id"}),
    "models": frozenset({"team", "project", "run_id", "model_id"}),
    "model_alias_history": frozenset({"team", "project", "model_id"}),
    "comments": frozenset({"team", "project", "target_kind", "target_id"}),
    "decisions": frozenset({"team", "project", "target_kind", "target_id"}),
    "activity": frozenset({"team", "project", "aggregate_kind", "aggregate_id"}),
    "members": frozenset({"team"}),
    "packages": frozenset({"team", "project", "run_id"}),
    "automation_rules": frozenset({"team", "project"}),
    "automation_deliveries": frozenset({"team"}),
    "media": frozenset({"team", "project", "run_id"}),
    "table_rows": frozenset({"team", "project", "run_id"}),
}


def check_team(team: str) -> str:
    """``team`` if it is a team slug; ValidationError naming the rule otherwise."""
    if not isinstance(team, str) or not _SLUG.match(team):
        raise ValidationError(
            f"team {team!r} is not a team slug ([a-z0-9][a-z0-9_-]*, at most 64)",
            field="team",
            rule="slug_format",
        )
    return team


def team_role(team: str) -> str:
    """The role (on a server) and user name (on the local endpoint) of a team's reporting."""
    return f"reporting_{check_team(team)}"


def _shares(database: str, team: str, project_shares: bool) -> str:
    kind = "target_kind = 'project'" if project_shares else "target_kind != 'project'"
    columns = "team, target_id" if project_shares else "target_kind, target_id"
    return (
        f"SELECT {columns} FROM {q(database)}.{q(SHARES_VIEW)} WHERE active AND {kind}"
        f" AND grantee_kind = 'team' AND grantee_id = '{team}'"
    )


def team_view_condition(team: str, database: str, columns: Collection[str]) -> str:
    """The rows of a reporting view (with ``columns``) that ``team`` may see, as SQL.

    ``database`` is the projection database (``cairn``), where ``shares_current`` lives. A view
    without a ``team`` column shows the team nothing (``0``): deny unless the rule applies.
    """
    check_team(team)
    if "team" not in columns:
        return "0"
    parts = [f"team = '{team}'"]
    if "project" in columns:
        parts.append(f"(team, project) IN ({_shares(database, team, True)})")
    pairs = [(f"{kind}", column) for column, kind in _SINGLE_KIND if column in columns][:1]
    pairs += [(k, i) for k, i in OBJECT_COLUMNS if k in columns and i in columns]
    objects = _shares(database, team, False)
    parts += [f"({kind}, {ident}) IN ({objects})" for kind, ident in pairs]
    return " OR ".join(parts)


def team_view_filters(
    team: str, database: str, views: Mapping[str, Collection[str]]
) -> dict[str, str]:
    """``additional_table_filters`` for ``team``: each view's qualified name -> its condition."""
    reporting = reporting_database(database)
    return {
        f"{reporting}.{view}": team_view_condition(team, database, columns)
        for view, columns in views.items()
    }


def render_row_policies(
    teams: Iterable[str], database: str = "cairn", topology: Topology = SINGLE_NODE
) -> list[str]:
    """The statements giving each team a role restricted to its rows (plus what is shared with
    it) in every reporting view, and the cross-team role."""
    reporting = q(reporting_database(database))
    shares = f"{q(database)}.{q(SHARES_VIEW)}"
    cluster = topology.on_cluster
    statements: list[str] = []
    roles: list[tuple[str, str | None]] = [(ALL_TEAMS_ROLE, None)]
    roles += [(team_role(team), team) for team in sorted(set(teams))]
    for role, team in roles:
        statements.append(f"CREATE ROLE IF NOT EXISTS {q(role)}{cluster}")
        statements.append(f"GRANT{cluster} SELECT ON {reporting}.* TO {q(role)}")
        if team is not None:
            statements.append(f"GRANT{cluster} SELECT ON {shares} TO {q(role)}")
            statements.append(
                f"CREATE ROW POLICY OR REPLACE {q(role)}{cluster} ON {shares} FOR SELECT"
                f" USING grantee_kind = 'team' AND grantee_id = '{team}' TO {q(role)}"
            )
        for view in REPORTING_VIEWS:
            condition = (
                "1"
                if team is None
                else team_view_condition(team, database, VIEW_SCOPE_COLUMNS.get(view.name, ()))
            )
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
