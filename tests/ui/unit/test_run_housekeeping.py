"""ui.run_housekeeping: a submitted edit form becomes only the events of what changed."""

from __future__ import annotations

from query._records import RunSummary
from ui.events import RunEdit
from ui.run_housekeeping import planned_edits

RUN = RunSummary(
    run_id="r1", team="risk", project="churn", name="xgb", owner="alice", created_by="alice",
    status="finished", status_reason="", description="old", created_at=None, started_at=None,
    finished_at=None, duration_s=None, exit_code=0, archived=False, parent_run_id="",
    sweep_id="", host="", git_commit="", git_branch="",
)  # fmt: skip
TAGS = {"stage": "draft", "owner": "ml"}


def test_an_unchanged_form_appends_nothing() -> None:
    assert planned_edits(RUN, TAGS, name=" xgb ", description="old\n", new_tag=("stage", "draft"), removed=[]) == []  # fmt: skip


def test_each_change_is_its_own_event() -> None:
    assert planned_edits(
        RUN, TAGS, name="xgb-best", description="new", new_tag=(" stage ", "prod"), removed=["owner"]
    ) == [
        RunEdit("run_renamed", "xgb-best"),
        RunEdit("run_description_set", "new"),
        RunEdit("tags_set", tags=(("stage", "prod"),)),
        RunEdit("tags_removed", keys=("owner",)),
    ]  # fmt: skip
