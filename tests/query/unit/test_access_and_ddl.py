"""The visibility fragment, the reporting DDL and the row-policy DDL, without a server."""

from __future__ import annotations

import pytest

from cairn.errors import ValidationError
from query.access import Caller, Visibility
from query.ddl import Topology
from query.migrations import MIGRATIONS
from query.reporting_schema import REPORTING_STATEMENTS, REPORTING_VIEWS, reporting_database
from query.row_policies import main, render_row_policies


def test_callers_are_validated() -> None:
    with pytest.raises(ValidationError):
        Caller("ann", {"risk"})  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Caller(7)  # type: ignore[arg-type]
    assert Caller("ann").teams == frozenset()


def test_admins_see_everything_and_others_get_bound_parameters_only() -> None:
    assert Visibility(Caller("root", admin=True), "db").predicate("team", "project") == "1"
    plain = Visibility(Caller("ann", frozenset({"risk"})), "db")
    sql = plain.predicate("t.team", "t.project", kind="'run'", object_id="t.run_id")
    assert sql == "(has({caller_teams:Array(String)}, t.team))"
    assert "risk" not in sql
    assert "ann" not in sql
    assert plain.parameters["caller_teams"] == ["risk"]


def test_shares_add_set_lookups_against_bound_lists() -> None:
    vis = Visibility(
        Caller("ann", frozenset({"risk"})),
        "db",
        shared_projects=(("vision", "detector"),),
        shared_objects=(("run", "n-1"),),
    )
    sql = vis.predicate("team", "project", kind="'run'", object_id="run_id", objects=[("k", "i")])
    assert "(team, project) IN {shared_projects:Array(Tuple(String, String))}" in sql
    assert "('run', run_id) IN {shared_objects:Array(Tuple(String, String))}" in sql
    assert "(k, i) IN {shared_objects:" in sql
    assert "detector" not in sql
    assert "n-1" not in sql
    assert vis.parameters["shared_projects"] == [("vision", "detector")]


def test_deferred_visibility_reads_the_shares_inside_the_statement() -> None:
    vis = Visibility.deferred(Caller("ann", frozenset({"risk"})), "db")
    sql = vis.predicate("team", "project", kind="'run'", object_id="run_id")
    assert "(team, project) IN (SELECT team, target_id FROM (" in sql
    assert "('run', run_id) IN (SELECT target_kind, target_id FROM (" in sql
    assert "`db`.`shares_current`" in sql
    assert "ann" not in sql
    assert "risk" not in sql
    assert vis.parameters == {"caller_user": "ann", "caller_teams": ["risk"]}
    assert Visibility.deferred(Caller("root", admin=True), "db").predicate("t", "p") == "1"


def test_reporting_views_live_beside_their_projection_database() -> None:
    assert reporting_database("cairn") == "cairn_reporting"
    rendered = [sql for s in REPORTING_STATEMENTS for sql in s.render("t_1", Topology())]
    assert rendered[0] == "CREATE DATABASE IF NOT EXISTS `t_1_reporting`"
    assert all(sql.startswith("CREATE OR REPLACE VIEW `t_1_reporting`.") for sql in rendered[1:])
    assert all("{db}" not in sql and "`t_1`." in sql for sql in rendered[1:])
    cluster = [sql for s in REPORTING_STATEMENTS for sql in s.render("cairn", Topology("prod"))]
    assert all(" ON CLUSTER `prod`" in sql for sql in cluster)


def test_the_reporting_views_are_the_newest_migration() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert MIGRATIONS[2].name == "reporting_views"


def test_row_policies_for_each_team_and_view() -> None:
    statements = render_row_policies(["vision", "risk", "risk"])
    roles = [s for s in statements if s.startswith("CREATE ROLE")]
    assert roles == [
        "CREATE ROLE IF NOT EXISTS `reporting_all_teams`",
        "CREATE ROLE IF NOT EXISTS `reporting_risk`",
        "CREATE ROLE IF NOT EXISTS `reporting_vision`",
    ]
    risk = [s for s in statements if "USING team = 'risk'" in s]
    assert len(risk) == len(REPORTING_VIEWS)
    shares = (
        "FROM `cairn`.`shares_current` WHERE active AND target_kind {}"
        " AND grantee_kind = 'team' AND grantee_id = 'risk'"
    )
    projects, objects = shares.format("= 'project'"), shares.format("!= 'project'")
    assert risk[0] == (
        "CREATE ROW POLICY OR REPLACE `reporting_risk` ON `cairn_reporting`.`runs`"
        " FOR SELECT USING team = 'risk'"
        f" OR (team, project) IN (SELECT team, target_id {projects})"
        f" OR ('run', run_id) IN (SELECT target_kind, target_id {objects})"
        " TO `reporting_risk`"
    )
    # The shares the policies read are themselves restricted to those naming the team.
    assert (
        "CREATE ROW POLICY OR REPLACE `reporting_risk` ON `cairn`.`shares_current` FOR SELECT"
        " USING grantee_kind = 'team' AND grantee_id = 'risk' TO `reporting_risk`"
    ) in statements
    members = next(s for s in statements if "`members` FOR SELECT USING team = 'risk'" in s)
    assert "shares_current" not in members  # members belong to a team: never shared


@pytest.mark.parametrize("team", ["Risk", "risk'; DROP", "", "a b", "x" * 65])
def test_row_policies_refuse_anything_but_team_slugs(team: str) -> None:
    with pytest.raises(ValidationError):
        render_row_policies([team])


def test_row_policies_command_prints_statements(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--team", "risk", "--cluster", "prod"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "CREATE ROLE IF NOT EXISTS `reporting_all_teams` ON CLUSTER `prod`;"
    assert all(line.endswith(";") for line in out)
