"""The portal's own permissions (docs/permissions.md, P1-P5), run by ``streamlit.testing``
against the demo in the real store: reads are the real ``query/`` functions, writes go to a
recording sink so each test sees the exact events a click would append."""

from __future__ import annotations

from datetime import UTC, datetime

from streamlit.testing.v1 import AppTest

from query.collaboration import Comment
from tests.ui.conftest import ALICE, PageHarness, PortalStore, pages, portal_store  # noqa: F401
from ui.auth import Identity
from ui.context import IDENTITY_KEY, SETTINGS_KEY, SINK_KEY
from ui.events import RunEdit, Target, TargetKind
from ui.ingest_writer import RecordingSink
from ui.settings import PortalSettings

DAVE = Identity("dave", "Dave Singh", frozenset({"vision", "risk"}))  # a member, not an admin


def _submit(app: AppTest, label: str) -> AppTest:
    return next(b for b in app.button if b.label == label).click().run()


def _errors(app: AppTest) -> str:
    return "\n".join(str(e.value) for e in app.error)


def test_handover_needs_owner_or_team_admin(pages: PageHarness) -> None:  # noqa: F811
    sink = RecordingSink()
    app = pages.open("views/handover.py", DAVE, {"team": "risk"}, sink)
    assert not app.exception
    app.selectbox(key="handover.to").select("dave")
    app.text_input(key="handover.reason").input("taking over")
    _submit(app, "Transfer ownership")
    assert sink.events == []
    assert "owner_or_team_admin" in _errors(app)
    allowed = RecordingSink()
    admin = pages.open("views/handover.py", ALICE, {"team": "risk"}, allowed)
    admin.selectbox(key="handover.to").select("alice")
    admin.text_input(key="handover.reason").input("Bob left")
    _submit(admin, "Transfer ownership")
    assert len(allowed.events) == 5


def test_share_grantee_must_exist(
    pages: PageHarness,  # noqa: F811
    portal_store: PortalStore,  # noqa: F811
) -> None:
    sink = RecordingSink()
    app = pages.open("views/sharing.py", ALICE, None, sink)
    app.text_input(key="sharing.runs.text").input("baseline-log").run()
    app.multiselect(key="sharing.runs.pick").select(portal_store.run_ids["baseline-logreg"]).run()
    app.text_input(key="sharing.grantee").input("visoin")  # a typo
    _submit(app, "Share")
    assert sink.events == []
    assert "grantee" in _errors(app)
    assert "'visoin'" in _errors(app)
    for grantee, shared in (("nobody-here", []), ("carol", ["carol"])):
        user_sink = RecordingSink()
        page = pages.open("views/sharing.py", ALICE, None, user_sink)
        page.text_input(key="sharing.runs.text").input("baseline-log").run()
        page.multiselect(key="sharing.runs.pick").select(portal_store.run_ids["baseline-logreg"])
        page.run()
        page.selectbox(key="sharing.kind").select("user")
        page.text_input(key="sharing.grantee").input(grantee)
        _submit(page, "Share")
        assert [e.resource_shared.grantee.id for e in user_sink.events] == shared, _errors(page)


# --- P1-P3: comments, decisions, notes; forced past the page (the button is not offered) -------


def _act(
    action: str, identity: Identity, *, store: str = "", **kwargs: object
) -> tuple[str, list[str]]:
    """Run one ``ui.actions`` call in a real Streamlit session as ``identity``: the error rule it
    raised ('' if none) and the event types it appended (``store``: a ClickHouse URL, for actions
    that read the store, such as numbering run events)."""

    def script(action: str, kwargs: dict[str, object]) -> None:
        import streamlit as st

        from cairn_contract.errors import CairnError
        from ui import actions

        try:
            getattr(actions, action)(**kwargs)
            st.session_state["outcome"] = ""
        except CairnError as error:
            st.session_state["outcome"] = error.rule or type(error).__name__

    sink = RecordingSink()
    app = AppTest.from_function(script, args=(action, kwargs), default_timeout=60)
    app.session_state[IDENTITY_KEY] = identity
    app.session_state[SINK_KEY] = sink
    if store:
        app.session_state[SETTINGS_KEY] = PortalSettings(clickhouse_url=store)
    app.run()
    assert not app.exception, app.exception
    kinds = [event.WhichOneof("payload") for event in sink.events]
    return str(app.session_state["outcome"]), kinds


NLP_PROJECT = Target.project_of("nlp", "chat")  # DAVE is in vision and risk, not nlp
RISK_PROJECT = Target.project_of("risk", "churn")
ADMIN = Identity("root", "Portal Admin", frozenset(), admin=True)


def _comment(author: str, target: Target) -> Comment:
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    return Comment(
        comment_id="c-1", target_kind=target.kind.value, target_id=target.id, team=target.team,
        project=target.project, author=author, body_markdown="hi", anchor_metric="",
        anchor_step_min=0, anchor_step_max=0, reply_to="", mentions=(), created_at=moment,
        updated_at=moment, edit_count=0, deleted=False, deleted_by="",
    )  # fmt: skip


def test_only_members_of_the_team_comment_decide_and_write_notes() -> None:
    """P1: a member of the target's team (or a portal admin) may; anyone else is refused with
    PERMISSION_DENIED ``team_member`` and nothing is appended."""
    calls = {
        "add_comment": {"body": "looks good"},
        "record_decision": {"title": "ship it", "body": "", "run_ids": []},
    }
    for action, kwargs in calls.items():
        assert _act(action, DAVE, target=NLP_PROJECT, **kwargs) == ("team_member", [])
        assert _act(action, DAVE, target=RISK_PROJECT, **kwargs)[0] == ""
        assert _act(action, ADMIN, target=NLP_PROJECT, **kwargs)[0] == ""
    assert _act("set_notes", DAVE, team="nlp", project="chat", body="x") == ("team_member", [])
    assert _act("set_notes", DAVE, team="risk", project="churn", body="x") == (
        "",
        ["project_notes_set"],
    )
    assert _act("add_comment", DAVE, target=RISK_PROJECT, body="hi") == ("", ["comment_added"])


def test_only_the_author_edits_a_comment() -> None:
    """P2: the author may edit; a colleague in the same team, or a portal admin, may not."""
    alices = _comment("alice", RISK_PROJECT)
    for someone in (DAVE, ADMIN):
        assert _act("edit_comment", someone, target=RISK_PROJECT, comment=alices, body="x") == (
            "author_only",
            [],
        )
    alice = Identity("alice", "Alice Moreau", frozenset({"risk"}))
    assert _act("edit_comment", alice, target=RISK_PROJECT, comment=alices, body="better") == (
        "",
        ["comment_edited"],
    )


def test_the_author_or_an_admin_deletes_a_comment() -> None:
    """P3: the author or a portal admin may delete; a colleague may not."""
    alices = _comment("alice", RISK_PROJECT)
    refused, appended = _act("delete_comment", DAVE, target=RISK_PROJECT, comment=alices)
    assert (refused != "", appended) == (True, [])
    alice = Identity("alice", "Alice Moreau", frozenset({"risk"}))
    for someone in (alice, ADMIN):
        assert _act("delete_comment", someone, target=RISK_PROJECT, comment=alices) == (
            "",
            ["comment_deleted"],
        )


def test_only_members_of_the_runs_team_edit_it(portal_store: PortalStore) -> None:  # noqa: F811
    """P8: run housekeeping (rename, description, tags, archive/restore) by a member of the run's
    team or a portal admin, one event each; a member of another team, even one the run is shared
    with, is refused with PERMISSION_DENIED ``team_member`` and nothing is appended."""
    url = portal_store.url
    run = Target(TargetKind.RUN, portal_store.run_ids["xgb-lr0.1-d6"], "risk", "churn")
    edits = [
        RunEdit("run_renamed", "xgb-best"),
        RunEdit("run_description_set", "the **winner**"),
        RunEdit("tags_set", tags=(("stage", "prod"),)),
        RunEdit("tags_removed", keys=("sweep",)),
        RunEdit("run_archived", "superseded"),
        RunEdit("run_unarchived"),
    ]
    kinds = [edit.kind for edit in edits]
    carol = Identity("carol", "Carol Lin", frozenset({"vision"}))  # the run is shared with vision
    assert _act("edit_run", carol, store=url, target=run, edits=edits) == ("team_member", [])
    assert _act("edit_run", DAVE, store=url, target=run, edits=edits) == ("", kinds)
    assert _act("edit_run", ADMIN, store=url, target=run, edits=edits[:1]) == ("", ["run_renamed"])
    blank = [RunEdit("run_renamed", "  ")]
    assert _act("edit_run", DAVE, store=url, target=run, edits=blank) == ("required", [])
