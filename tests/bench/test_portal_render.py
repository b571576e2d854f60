"""``make bench-portal``'s parts, at a tiny size: the table it prints, and the synthetic store's
extra rows read back by the query functions the pages use (speed is the benchmark's, not this)."""

from __future__ import annotations

import math
import uuid

import pytest

from bench.portal_render import Figures, cases, percentile, rows, table_text
from bench.portal_store import TRIALS, USER, has_extras, load_extras, sweep_ids
from bench.query_scale import Shape, load
from query import automations, people, sweeps
from query.access import Caller
from query.client import connect
from query.migrations import apply_migrations
from tests.integration.conftest_clickhouse import ClickHouseEndpoint

TINY = Shape(runs=2_200, big_every=100, big_steps=200, small_steps=5)
EVERYONE = Caller(USER, frozenset({"team-0", "team-1", "team-2", "team-3"}))


def test_the_table_has_a_row_per_page_with_first_warm_goal_and_verdict() -> None:
    figures = {
        "Runs": Figures(first=[1.2, 1.9], warm=[0.2] * 9 + [0.9]),
        "Sweep": Figures(first=[2.5], warm=[0.4, 0.5]),
        "Lineage": Figures(errors=["TimeoutError: no chart"]),
    }
    table = rows(figures)
    assert [(r.page, r.first_s, r.met) for r in table[:2]] == [
        ("Runs", 1.9, True),
        ("Sweep", 2.5, False),
    ]
    assert table[0].warm_p95_s == 0.9
    assert table[0].warm_p50_s == 0.2
    assert math.isnan(table[2].first_s)
    assert not table[2].met
    lines = table_text(table).splitlines()
    assert lines[0].split()[:5] == ["page", "first", "s", "warm", "p50"]
    assert [line.split()[-1] for line in lines[1:]] == ["yes", "NO", "NO"]


def test_p95_is_the_nearest_rank() -> None:
    assert percentile([float(n) for n in range(1, 21)], 0.95) == 19.0
    assert percentile([3.0, 1.0], 0.95) == 3.0
    assert percentile([5.0], 0.5) == 5.0


def test_every_portal_page_is_measured() -> None:
    names = [case.name.split(" ")[0] for case in cases(TINY)]
    assert names == [
        "Projects", "Runs", "Run", "Compare", "Sweeps", "Sweep", "Lineage", "Models",
        "Discussion", "Handover", "Sharing", "Automations", "Inbox",
    ]  # fmt: skip
    compare = next(c for c in cases(TINY) if c.name.startswith("Compare"))
    assert compare.path.count("run-") == 22  # the long runs, every hundredth


@pytest.mark.integration
def test_the_synthetic_store_has_sweeps_people_and_an_inbox(
    clickhouse_endpoint: ClickHouseEndpoint,
) -> None:
    database = f"bench_{uuid.uuid4().hex[:8]}"
    admin = connect(f"{clickhouse_endpoint.url}/default")
    apply_migrations(admin, database)
    load(admin, database, TINY, lambda line: None)
    assert not has_extras(admin, database)
    load_extras(admin, database, TINY, lambda line: None)
    assert has_extras(admin, database)
    client = connect(f"{clickhouse_endpoint.url}/{database}")
    listed = sweeps.sweeps(client, EVERYONE)
    assert sorted(listed["run_id"]) == sorted(sweep_ids(TINY))
    assert set(listed["trials"]) == {TRIALS}
    summary = sweeps.sweep(client, EVERYONE, sweep_ids(TINY)[0])
    assert summary.definition.objectives == ("val_acc",)
    members = people.members(client, EVERYONE)
    assert any(not m.active for m in members)  # people who left: orphaned runs on Handover
    kinds = {item.kind for item in automations.inbox(client, EVERYONE)}
    assert {"mention", "handover", "failed_run", "rule"} <= kinds
    assert automations.unread_count(client, EVERYONE) > 0
