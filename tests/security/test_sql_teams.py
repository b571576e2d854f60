"""Per-team SQL credentials on the local endpoint (docs/permissions.md, R3 and R5), on the real
engine: a team's reporting user sees its own rows plus what is shared with the team in every
reporting view, nothing of another team, nothing outside the reporting database, and can write
nothing. The views are read from the engine, never listed here, so a new view is covered too.

The world of ``tests/query/integration/world.py`` is seeded into a private database (a share
is added below, which the session's shared world must not see)."""

from __future__ import annotations

import argparse
import re
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cairn.v1 import collaboration_pb2, envelope_pb2, events_pb2, runs_pb2
from domain.projections import LogPosition, Projection
from localstack import cli
from localstack.clickhouse_http import add_team_user
from localstack.secrets import LocalSecrets, save
from processors.projection_writer import ProjectionWriter
from query.adhoc_sql import SqlError
from query.client import connect
from query.reporting_schema import reporting_database
from query.row_policies import (
    SCOPE_COLUMNS,
    VIEW_SCOPE_COLUMNS,
    render_row_policies,
    team_role,
)
from tests.builders import event
from tests.event_samples import sample_event
from tests.integration.conftest_clickhouse import ClickHouseEndpoint
from tests.query.integration.conftest import seed
from tests.query.integration.world import Clock
from tests.security.sql_client import Answer, run_sql

pytestmark = pytest.mark.integration

READONLY = 164
ACCESS_DENIED = 497
TEAMS = ("risk", "vision", "nlp")


@dataclass(frozen=True)
class TeamWorld:
    endpoint: ClickHouseEndpoint
    database: str
    passwords: dict[str, str]

    @property
    def reporting(self) -> str:
        return reporting_database(self.database)

    def as_team(self, team: str, statement: str, **params: str) -> Answer:
        e = self.endpoint
        return run_sql(e.host, e.port, team_role(team), self.passwords[team], statement, **params)

    def as_admin(self, statement: str) -> Answer:
        e = self.endpoint
        answer = run_sql(e.host, e.port, e.admin_user, e.admin_password, statement)
        assert answer.status == 200, answer
        return answer

    def count(self, team: str | None, statement: str) -> int:
        answer = self.as_admin(statement) if team is None else self.as_team(team, statement)
        assert answer.status == 200, answer
        return int(answer.body.strip())

    def views(self) -> dict[str, set[str]]:
        body = self.as_admin(
            "SELECT table, name FROM system.columns WHERE database = "
            f"'{self.reporting}' ORDER BY table"
        ).body
        views: dict[str, set[str]] = {}
        for line in body.splitlines():
            table, column = line.split("\t")
            views.setdefault(table, set()).add(column)
        return views


@pytest.fixture(scope="module")
def team_world(clickhouse_endpoint: ClickHouseEndpoint) -> Iterator[TeamWorld]:
    database = f"t_{uuid.uuid4().hex[:10]}"
    seed(clickhouse_endpoint, database, Clock(datetime.now(UTC)))
    rewind_a_vision_run(clickhouse_endpoint, database)
    log_media_in_every_team(clickhouse_endpoint, database)
    users_file = clickhouse_endpoint.data_dir.parent / "clickhouse-users.json"
    passwords = {team: secrets.token_urlsafe(12) for team in TEAMS}
    for team, password in passwords.items():
        add_team_user(users_file, team_role(team), password, team=team, database=database)
    yield TeamWorld(clickhouse_endpoint, database, passwords)
    admin = connect(f"{clickhouse_endpoint.url}/default")
    for db in (database, reporting_database(database)):
        admin.command(f"DROP DATABASE IF EXISTS `{db}` SYNC")


def project_events(endpoint: ClickHouseEndpoint, database: str, *events: events_pb2.Event) -> None:
    """Project ``events`` and write them into ``database`` as the processors do."""
    projection = Projection()
    for offset, ev in enumerate(events):
        projection.add(ev.SerializeToString(), LogPosition("test.events", 0, offset))
    ProjectionWriter(lambda: connect(f"{endpoint.url}/default"), database).write(projection)


def rewind_a_vision_run(endpoint: ClickHouseEndpoint, database: str) -> None:
    """v-det-2 goes back to step 50: a ``run_branches`` row and abandoned points (its step-100
    points) in ``metric_earlier_attempts``, so those views hold a vision row too."""
    rewound = event(
        "run_rewound",
        runs_pb2.RunRewound(to_step=50),
        run_id="v-det-2",
        sequence=10_001,
        team="vision",
        project="detector",
        actor="erin",
        occurred_at_ns=int(datetime.now(UTC).timestamp() * 1e9),
        event_id=str(uuid.uuid4()),
    )
    project_events(endpoint, database, rewound)


def log_media_in_every_team(endpoint: ClickHouseEndpoint, database: str) -> None:
    """An image and a table in a run of each team, so ``media`` and ``table_rows`` hold rows of
    every team (and of vision's shared project ``detector``)."""
    runs = (("r-credit-1", "risk", "credit"), ("v-det-1", "vision", "detector"))
    runs += (("n-chat-1", "nlp", "chat"),)
    for run_id, team, project in runs:
        logged = event(
            "media_logged",
            sample_event("media_logged").media_logged,
            run_id=run_id,
            sequence=10_002,
            team=team,
            project=project,
            actor="erin",
            occurred_at_ns=int(datetime.now(UTC).timestamp() * 1e9),
            event_id=str(uuid.uuid4()),
        )
        project_events(endpoint, database, logged)


def share_run_with_team(
    world: TeamWorld, run_id: str, team: str, project: str, grantee: str
) -> None:
    """A ``resource_shared`` event for ``run_id``, projected and written as the processors do."""
    shared = event(
        "resource_shared",
        collaboration_pb2.ResourceShared(
            grantee=collaboration_pb2.Principal(
                kind=collaboration_pb2.PRINCIPAL_KIND_TEAM, id=grantee
            ),
            access=collaboration_pb2.ACCESS_LEVEL_VIEW,
        ),
        run_id=run_id,
        sequence=10_000,
        team=team,
        project=project,
        actor="carol",
        aggregate_kind=envelope_pb2.AGGREGATE_KIND_RUN,
        occurred_at_ns=int(datetime.now(UTC).timestamp() * 1e9),
        event_id=str(uuid.uuid4()),
    )
    project_events(world.endpoint, world.database, shared)


def test_the_rendered_policies_know_every_view(team_world: TeamWorld) -> None:
    """query/row_policies.py renders production policies from VIEW_SCOPE_COLUMNS: it must match
    the views the migrations create, or a server's policy would miss a share (or a view)."""
    live = {
        view: frozenset(columns & SCOPE_COLUMNS) for view, columns in team_world.views().items()
    }
    assert live == dict(VIEW_SCOPE_COLUMNS)


def test_a_team_sees_only_its_rows_and_its_shares_in_every_view(team_world: TeamWorld) -> None:
    views = team_world.views()
    assert len(views) >= 17
    with_vision_rows = []
    for view, columns in sorted(views.items()):
        table = f"`{team_world.reporting}`.`{view}`"
        for team in TEAMS:
            own = team_world.count(None, f"SELECT count() FROM {table} WHERE team = '{team}'")
            seen_own = team_world.count(team, f"SELECT count() FROM {view} WHERE team = '{team}'")
            assert seen_own == own, (view, team)
        # risk: nothing of vision or nlp (v-det-2 was shared with risk, then unshared; n-chat-1
        # is shared with the user alice, not with her team).
        assert team_world.count("risk", f"SELECT count() FROM {view} WHERE team != 'risk'") == 0
        # vision: nothing of risk or nlp.
        assert team_world.count("vision", f"SELECT count() FROM {view} WHERE team != 'vision'") == 0
        # nlp: vision's project detector (shared with team nlp), nothing else of vision or risk.
        shared = (
            team_world.count(
                None,
                f"SELECT count() FROM {table} WHERE team = 'vision' AND project = 'detector'",
            )
            if "project" in columns
            else 0
        )
        seen = team_world.count("nlp", f"SELECT count() FROM {view} WHERE team != 'nlp'")
        assert seen == shared, view
        if team_world.count(None, f"SELECT count() FROM {table} WHERE team = 'vision'"):
            with_vision_rows.append(view)
    # The claim is only as strong as the data: vision has rows in (nearly) every view.
    assert len(with_vision_rows) >= len(views) - 3, sorted(set(views) - set(with_vision_rows))


def test_the_rendered_production_policies_hide_other_teams_in_every_view(
    team_world: TeamWorld,
) -> None:
    """R3 on a real server: the condition of each rendered ``CREATE ROW POLICY`` (chdb refuses
    the statement itself), evaluated by the engine on this database's views, keeps exactly the
    team's rows plus its shares: zero rows of another team in every view."""
    using = re.compile(r" ON `[^`]+`\.`([^`]+)` FOR SELECT USING (.*) TO `reporting_(\w+)`$")
    policies: dict[tuple[str, str], str] = {}
    for statement in render_row_policies(TEAMS, team_world.database):
        if statement.startswith("CREATE ROW POLICY") and (m := using.search(statement)):
            view, condition, team = m.groups()
            policies[(team, view)] = condition
    views = team_world.views()
    assert {view for _, view in policies} == set(views) | {"shares_current"}
    for view, columns in sorted(views.items()):
        table = f"`{team_world.reporting}`.`{view}`"
        for team in TEAMS:
            condition = policies[(team, view)]
            total = team_world.count(None, f"SELECT count() FROM {table} WHERE {condition}")
            # What the team's credentials see locally (the same rule, from the endpoint).
            assert total == team_world.count(team, f"SELECT count() FROM {view}"), (team, view)
        foreign = f"SELECT count() FROM {table} WHERE ({{}}) AND team != {{!r}}"
        assert team_world.count(None, foreign.format(policies[("risk", view)], "risk")) == 0
        assert team_world.count(None, foreign.format(policies[("vision", view)], "vision")) == 0
        shared = (
            f"SELECT count() FROM {table} WHERE team = 'vision' AND project = 'detector'"
            if "project" in columns
            else "SELECT 0"
        )
        nlp = team_world.count(None, foreign.format(policies[("nlp", view)], "nlp"))
        assert nlp == team_world.count(None, shared), view


def test_the_cross_team_user_sees_every_team(team_world: TeamWorld) -> None:
    e = team_world.endpoint
    for view in sorted(team_world.views()):
        statement = f"SELECT count() FROM `{team_world.reporting}`.`{view}`"
        answer = run_sql(e.host, e.port, e.reporting_user, e.reporting_password, statement)
        assert answer.body.strip() == team_world.as_admin(statement).body.strip(), view


def test_a_run_shared_with_the_team_shows_in_every_run_view(team_world: TeamWorld) -> None:
    run_views = sorted(
        v for v, cols in team_world.views().items() if "run_id" in cols and "model_id" not in cols
    )
    before = {
        v: team_world.count("risk", f"SELECT count() FROM {v} WHERE run_id = 'v-det-1'")
        for v in run_views
    }
    assert set(before.values()) == {0}
    share_run_with_team(team_world, "v-det-1", "vision", "detector", grantee="risk")
    table = f"`{team_world.reporting}`"
    after = {
        v: team_world.count("risk", f"SELECT count() FROM {v} WHERE run_id = 'v-det-1'")
        for v in run_views
    }
    expected = {
        v: team_world.count(None, f"SELECT count() FROM {table}.`{v}` WHERE run_id = 'v-det-1'")
        for v in run_views
    }
    assert after == expected
    assert after["runs"] == 1
    assert sum(1 for count in after.values() if count) >= 4  # runs, params, metrics, ...
    others = team_world.count(
        "risk", "SELECT count() FROM runs WHERE team != 'risk' AND run_id != 'v-det-1'"
    )
    assert others == 0


def forbidden(world: TeamWorld, out: Path) -> dict[str, int]:
    db = world.database
    return {
        f"SELECT 'x' INTO OUTFILE '{out}' TRUNCATE": READONLY,
        f"SELECT * FROM runs INTO OUTFILE '{out}'": READONLY,
        "SELECT file('/etc/hostname')": READONLY,
        "SELECT * FROM file('/etc/hostname', 'LineAsString')": READONLY,
        "SELECT * FROM url('http://127.0.0.1:9/x', 'CSV', 'a String')": READONLY,
        "KILL QUERY WHERE 1": READONLY,
        "SYSTEM STOP MERGES": READONLY,
        "SYSTEM RELOAD USERS": READONLY,
        "CREATE USER evil IDENTIFIED BY 'x'": READONLY,
        "ALTER USER reporting IDENTIFIED BY 'x'": READONLY,
        "DROP USER reporting": READONLY,
        "GRANT ALL ON *.* TO reporting_risk": READONLY,
        "SET additional_table_filters = {}": READONLY,
        "SELECT count() FROM runs SETTINGS additional_table_filters = {}": READONLY,
        "INSERT INTO runs (run_id) VALUES ('x')": READONLY,
        # Outside the reporting views: no team filter there.
        f"SELECT count() FROM {db}.run_fields": ACCESS_DENIED,
        f"SELECT 1 WHERE 'x' IN {db}.run_fields": ACCESS_DENIED,
        f"SELECT count() FROM (SELECT * FROM `{db}`.`runs`)": ACCESS_DENIED,
        "SELECT query FROM system.query_log": ACCESS_DENIED,
        "SELECT query FROM system.processes": ACCESS_DENIED,
    }


def test_a_team_user_cannot_write_kill_or_read_outside(
    team_world: TeamWorld, tmp_path: Path
) -> None:
    out = tmp_path / "written.txt"
    attacks = forbidden(team_world, out)
    got = {s: team_world.as_team("risk", s) for s in attacks}
    assert {s: a.code for s, a in got.items()} == attacks, {
        s: a.body[:200] for s, a in got.items() if a.code != attacks[s]
    }
    assert all(a.status in (403, 500) for a in got.values())
    assert not out.exists()


def test_clickhouse_connect_works_as_a_team_user(team_world: TeamWorld) -> None:
    e = team_world.endpoint
    url = f"http://{team_role('risk')}:{team_world.passwords['risk']}@{e.host}:{e.port}"
    client = connect(f"{url}/{team_world.reporting}")
    rows = client.query("SELECT DISTINCT team FROM runs WHERE run_id != 'v-det-1'").result_rows
    assert {row[0] for row in rows} == {"risk"}
    with pytest.raises(Exception, match=r"497|ACCESS_DENIED"):
        connect(f"{url}/{team_world.database}").query("SELECT 1")


def test_cairn_sql_reads_as_the_callers_team_by_default(
    clickhouse_endpoint: ClickHouseEndpoint,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """R6: on the local stack `cairn sql` uses the caller's team's credentials (CAIRN_TEAM, else
    the stack's team), adding the team's user to the running endpoint; --all-teams is the
    cross-team user."""
    home = clickhouse_endpoint.data_dir.parent
    save(
        home / "secrets.json",
        LocalSecrets(
            clickhouse_admin_password=clickhouse_endpoint.admin_password,
            clickhouse_reporting_password=clickhouse_endpoint.reporting_password,
            team_reporting_key=secrets.token_urlsafe(24),
        ),
    )
    for name in ("CAIRN_SQL_URL", "CAIRN_CLICKHOUSE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CAIRN_HOME", str(home))
    monkeypatch.setenv("CAIRN_CLICKHOUSE_PORT", str(clickhouse_endpoint.port))
    # Teams of their own: the module's other tests hold reporting_risk ... on another database.
    monkeypatch.setenv("CAIRN_TEAM", "cli-vision")

    def sql(statement: str, **changes: object) -> str:
        args: dict[str, object] = {"format": "tsv", "output": None, "admin": False, "param": []}
        args.update(url=False, team=None, all_teams=False)
        args.update(changes)
        assert cli.cmd_sql(argparse.Namespace(query=statement, **args)) == 0
        return capsys.readouterr().out

    assert sql("SELECT currentUser() AS u, currentDatabase() AS d").splitlines()[1] == (
        "default\tcairn_reporting"  # chdb's one engine user; the endpoint checked the team's
    )
    assert sql("", url=True).startswith(f"http://{team_role('cli-vision')}:")
    assert sql("", url=True, team="cli-risk").startswith(f"http://{team_role('cli-risk')}:")
    assert sql("", url=True, all_teams=True).startswith("http://reporting:")
    with pytest.raises(SqlError, match=r"^Code: 497\. ACCESS_DENIED: "):
        sql("SELECT count() FROM system.query_log")
    with pytest.raises(SqlError, match=r"^Code: 164\. READONLY: "):
        sql("SYSTEM STOP MERGES")


# Ways a statement could try to reach rows past the team filter: nesting, CTEs, unions, joins,
# the view() and merge() table functions, aggregation, settings, another database's name.
_SHAPES = st.sampled_from(
    [
        "SELECT team FROM {v}",
        "SELECT team FROM {r}.{v}",
        "SELECT team FROM (SELECT * FROM {v})",
        "WITH x AS (SELECT team FROM {v}) SELECT team FROM x",
        "SELECT team FROM {v} UNION ALL SELECT team FROM {w}",
        "SELECT a.team FROM {v} AS a LEFT JOIN {w} AS b ON a.team = b.team",
        "SELECT b.team FROM {v} AS a RIGHT JOIN {w} AS b ON 1 = 1",
        "SELECT team FROM {v} WHERE 1 OR team != 'vision'",
        "SELECT arrayJoin(groupArray(team)) AS team FROM {v}",
        "SELECT team FROM {v} LIMIT 1 BY team",
        "SELECT team FROM view(SELECT team FROM {v})",
        "SELECT team FROM merge('{rn}', '^{vn}$')",
        "SELECT team FROM {v} SETTINGS additional_table_filters = {{}}",
        "SELECT team FROM {v} SETTINGS additional_table_filters = {{'{r}.{v}': '1'}}",
        "SELECT team FROM {v} WHERE team IN (SELECT team FROM {w})",
        "SELECT DISTINCT team FROM {r}.{v} FINAL",
    ]
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(shape=_SHAPES, data=st.data())
def test_generated_sql_never_reads_another_teams_row(
    team_world: TeamWorld, shape: str, data: st.DataObject
) -> None:
    """R3 (hypothesis): vision (which nothing is shared with) runs generated statements over the
    views with a team column; whatever is answered holds only vision's rows, the rest is refused."""
    views = sorted(v for v, columns in team_world.views().items() if "team" in columns)
    v, w = data.draw(st.sampled_from(views)), data.draw(st.sampled_from(views))
    statement = shape.format(
        v=f"`{v}`", w=f"`{w}`", r=f"`{team_world.reporting}`", rn=team_world.reporting, vn=v
    )
    answer = team_world.as_team("vision", statement)
    if answer.status == 200:
        assert set(answer.body.split()) <= {"vision"}, (statement, answer.body[:300])
    else:  # refused by the engine or the endpoint, with a ClickHouse error code
        assert answer.code != 0, (statement, answer)
