"""query.run_details.search_page (the query service's SearchRuns, one statement with the
caller's shares read inside it) sees exactly what search_runs sees, for every kind of caller."""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.client import Client

from query.access import Caller
from query.run_details import search_page
from query.runs import search_runs
from tests.query.integration.callers import ADMIN, ALICE, CAROL, DAVE, STRANGER

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("caller", [ALICE, CAROL, DAVE, STRANGER, ADMIN], ids=lambda c: c.user_id)
def test_a_page_holds_what_search_runs_finds_in_the_same_order(
    client: Client, caller: Caller
) -> None:
    expected = list(
        search_runs(client, caller, None, "name asc", limit=1000, columns=["run_id"])["run_id"]
    )
    rows, more = search_page(client, caller, filter=None, order_by="name asc", limit=1000, offset=0)
    assert [row.summary.run_id for row in rows] == expected
    assert more is False
    if len(expected) > 2:
        first, more = search_page(
            client, caller, filter=None, order_by="name asc", limit=2, offset=1
        )
        assert [row.summary.run_id for row in first] == expected[1:3]
        assert more is (len(expected) > 3)


def test_a_page_row_carries_params_tags_and_last_metrics(client: Client) -> None:
    rows, _ = search_page(
        client, ALICE, filter="metrics.loss < 1000", order_by=None, limit=10, offset=0
    )
    found = {row.summary.run_id: row for row in rows}
    assert "r-churn-1" in found
    row = found["r-churn-1"]
    assert "loss" in row.metrics
    assert row.last_sequence > 0
    assert row.params or row.tags
