"""The SQL reporting views on the real engine: documented exactly, each fact once, read-only,
and the ten worked queries of docs/sql.md returning the right answers."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from query.ddl import Topology
from query.reporting_schema import REPORTING_VIEWS
from query.row_policies import render_row_policies
from tests.query.integration.conftest import World
from tests.query.integration.world import EVAL, HOLDOUT, TRAIN_V2, VISION_DATA

pytestmark = pytest.mark.integration

DOC = Path(__file__).resolve().parents[3] / "docs" / "sql.md"


def documented_columns() -> dict[str, list[tuple[str, str]]]:
    """View name -> [(column, type)] from the tables under each '### `view`' heading."""
    text = DOC.read_text().split("## Views", 1)[1].split("## Access", 1)[0]
    views: dict[str, list[tuple[str, str]]] = {}
    for section in re.split(r"^### ", text, flags=re.M)[1:]:
        name = re.match(r"`(\w+)`", section)
        assert name, section[:40]
        rows = re.findall(r"^\| `(\w+)` \| ([^|]+?) \| [^|]+\|$", section, flags=re.M)
        views[name.group(1)] = rows
    return views


def worked_queries() -> dict[int, tuple[str, str]]:
    """Number -> (title, SQL) of the worked queries in docs/sql.md."""
    text = DOC.read_text().split("## Ten reporting queries", 1)[1]
    found = re.findall(r"^### (\d+)\. ([^\n]+)\n.*?```sql\n(.*?)```", text, flags=re.M | re.S)
    return {int(number): (title, sql) for number, title, sql in found}


@pytest.fixture(scope="module")
def reporting(world: World) -> Client:
    return world.reporting_client()


def run_doc_query(reporting: Client, world: World, sql: str) -> list[tuple[Any, ...]]:
    return [
        tuple(row)
        for row in reporting.query(
            sql.replace("cairn_reporting.", f"{world.reporting}.")
        ).result_rows
    ]


def test_every_view_and_column_is_documented_with_its_type(reporting: Client, world: World) -> None:
    documented = documented_columns()
    assert list(documented) == [view.name for view in REPORTING_VIEWS]
    for view in REPORTING_VIEWS:
        described = [
            (row[0], row[1])
            for row in reporting.query(f"DESCRIBE TABLE {world.reporting}.{view.name}").result_rows
        ]
        assert documented[view.name] == described, view.name


def test_runs_and_metrics_have_the_promised_columns(reporting: Client, world: World) -> None:
    runs = {c for c, _ in documented_columns()["runs"]}
    promised = {"run_id", "project", "team", "owner", "name", "status", "created_at", "finished_at"}
    assert promised <= runs
    metrics = [c for c, _ in documented_columns()["metrics"]]
    assert {"run_id", "key", "step", "timestamp", "value"} <= set(metrics)


def test_each_fact_appears_once_even_when_events_were_delivered_twice(
    reporting: Client, world: World
) -> None:
    db = world.reporting
    checks = {
        "runs": ("count()", "uniqExact(run_id)"),
        "metrics": ("count()", "uniqExact(run_id, key, step)"),
        "metric_summaries": ("count()", "uniqExact(run_id, key)"),
        "params": ("count()", "uniqExact(run_id, key)"),
        "tags": ("count()", "uniqExact(run_id, key)"),
        "lineage": (
            "count()",
            "uniqExact(source_kind, source_id, source_version, relation, target_kind, target_id, target_version)",
        ),
        "datasets": ("count()", "uniqExact(run_id, role, name, digest)"),
        "models": ("count()", "uniqExact(model_id, version)"),
        "comments": ("count()", "uniqExact(comment_id)"),
        "decisions": ("count()", "uniqExact(decision_id)"),
        "activity": ("count()", "uniqExact(event_id)"),
        "members": ("count()", "uniqExact(team, user_id)"),
        "packages": ("count()", "uniqExact(run_id, name)"),
    }
    for view, (total, distinct) in checks.items():
        rows, unique = reporting.query(f"SELECT {total}, {distinct} FROM {db}.{view}").result_rows[
            0
        ]
        assert rows == unique > 0, view
    assert reporting.query(f"SELECT count() FROM {db}.runs").result_rows[0][0] == 10
    points = reporting.query(
        f"SELECT count() FROM {db}.metrics WHERE run_id = 'r-churn-1' AND key = 'val_acc'"
    )
    assert points.result_rows[0][0] == 3


def test_views_show_latest_state(reporting: Client, world: World) -> None:
    db = world.reporting
    owner, created_by, status = reporting.query(
        f"SELECT owner, created_by, status FROM {db}.runs WHERE run_id = 'r-churn-3'"
    ).result_rows[0]
    assert (owner, created_by, status) == ("bob", "alice", "finished")
    body, deleted = reporting.query(
        f"SELECT body_markdown, deleted FROM {db}.comments WHERE comment_id = 'c3'"
    ).result_rows[0]
    assert (body, deleted) == ("", True)  # a deleted comment's text never reaches SQL users
    edited = reporting.query(
        f"SELECT body_markdown, edit_count FROM {db}.comments WHERE comment_id = 'c1'"
    )
    assert edited.result_rows[0] == ("plateau at 3k steps (edited)", 1)
    left = reporting.query(
        f"SELECT active, left_at IS NOT NULL FROM {db}.members WHERE user_id = 'bob'"
    )
    assert left.result_rows[0] == (False, True)
    value = reporting.query(
        f"SELECT value, value_number FROM {db}.params WHERE run_id = 'r-churn-1' AND key = 'optimizer'"
    )
    assert value.result_rows[0] == ("adam", None)


def test_the_reporting_user_cannot_write(reporting: Client, world: World) -> None:
    for statement in (
        f"CREATE TABLE {world.reporting}.x (a UInt8) ENGINE = Memory",
        f"DROP VIEW {world.reporting}.runs",
        f"INSERT INTO {world.database}.run_fields (run_id) VALUES ('evil')",
        "SET readonly = 0",
    ):
        with pytest.raises(DatabaseError):
            reporting.command(statement)


def test_row_policy_ddl_parses_in_the_real_engine_but_embedded_mode_refuses_it(
    world: World,
) -> None:
    admin = world.client()
    for topology in (Topology(), Topology(cluster="prod")):
        statements = render_row_policies(["risk", "vision"], "cairn", topology)
        # The cross-team role, then each team's (with its grant and policy on the shares).
        assert len(statements) == (2 + len(REPORTING_VIEWS)) + 2 * (4 + len(REPORTING_VIEWS))
        for statement in statements:
            admin.query(f"EXPLAIN AST {statement}")  # raises on a syntax error
    with pytest.raises(DatabaseError, match=r"497|ACCESS_DENIED"):
        admin.command(render_row_policies(["risk"], world.database)[-1])


def month(offset_months: int, now: dt.datetime) -> dt.date:
    year, month_index = divmod(now.year * 12 + now.month - 1 + offset_months, 12)
    return dt.date(year, month_index + 1, 1)


def expected_answers(world: World) -> dict[int, list[tuple[Any, ...]]]:
    now = world.clock.now
    this = month(0, now)
    old = dt.date(world.clock.long_ago.year, world.clock.long_ago.month, 1)
    old_nlp = (world.clock.long_ago + dt.timedelta(days=1)).date().replace(day=1)
    trend = sorted(
        [
            ("nlp", old_nlp, 1, 0.75),
            ("nlp", this, 1, 0.7),
            ("risk", old, 1, 0.95),
            ("risk", this, 3, 0.907),
            ("vision", this, 1, 0.97),
        ]
    )
    return {
        1: [
            ("nlp", "chat", "n-chat-1", 0.7),
            ("risk", "churn", "r-churn-1", 0.93),
            ("risk", "credit", "r-credit-1", 0.91),
            ("vision", "detector", "v-det-1", 0.97),
        ],
        2: trend,
        3: [
            ("churn", 2, "eval", EVAL),
            ("churn", 2, "holdout", HOLDOUT),
            ("churn", 2, "train", TRAIN_V2),
            ("detector", 1, "images", VISION_DATA),
        ],
        4: [
            ("bob", 3, 2, 1, 0),
            ("alice", 2, 1, 0, 1),
            ("carol", 1, 1, 0, 0),
            ("dave", 1, 1, 0, 0),
            ("erin", 1, 0, 1, 0),
        ],
        5: [
            ("vision", "detector", 2, 1, 0.5),
            ("risk", "churn", 4, 1, 0.25),
            ("nlp", "chat", 2, 0, 0.0),
            ("risk", "credit", 1, 0, 0.0),
        ],
        6: [("adam", 3, 0.95, 0.97), ("adamw", 3, 0.787, 0.91), ("sgd", 3, 0.727, 0.88)],
        7: [("r-churn-1", 100.0, 2345, 0.0648)],
        8: [("r-churn-1", 2, 2), ("r-churn-2", 1, 1), ("v-det-1", 1, 1)],
        9: [
            ("nlp", "2.0.1", 1),
            ("risk", "1.26.4", 1),
            ("risk", "2.0.1", 1),
            ("vision", "1.26.4", 1),
        ],
        10: [("alice", 3, 1, 2), ("bob", 1, 0, 0), ("carol", 1, 1, 1)],
    }


def test_docs_have_ten_worked_queries() -> None:
    assert sorted(worked_queries()) == list(range(1, 11))


@pytest.mark.parametrize("number", range(1, 11))
def test_worked_query_answers(reporting: Client, world: World, number: int) -> None:
    title, sql = worked_queries()[number]
    assert run_doc_query(reporting, world, sql) == expected_answers(world)[number], title
