"""The portal's own permissions (docs/permissions.md, P1-P5), run by ``streamlit.testing``
against the demo in the real store: reads are the real ``query/`` functions, writes go to a
recording sink so each test sees the exact events a click would append."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.ui.conftest import ALICE, PageHarness, PortalStore, pages, portal_store  # noqa: F401
from ui.auth import Identity
from ui.ingest_writer import RecordingSink

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
    app.multiselect(key="sharing.runs").select(portal_store.run_ids["baseline-logreg"]).run()
    app.text_input(key="sharing.grantee").input("visoin")  # a typo
    _submit(app, "Share")
    assert sink.events == []
    assert "grantee" in _errors(app)
    assert "'visoin'" in _errors(app)
    for grantee, shared in (("nobody-here", []), ("carol", ["carol"])):
        user_sink = RecordingSink()
        page = pages.open("views/sharing.py", ALICE, None, user_sink)
        page.multiselect(key="sharing.runs").select(portal_store.run_ids["baseline-logreg"])
        page.selectbox(key="sharing.kind").select("user")
        page.text_input(key="sharing.grantee").input(grantee)
        _submit(page, "Share")
        assert [e.resource_shared.grantee.id for e in user_sink.events] == shared, _errors(page)
