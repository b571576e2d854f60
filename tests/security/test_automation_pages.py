"""The portal's Automations page offers only the signed-in person's teams (docs/permissions.md,
P7), run by ``streamlit.testing`` against the demo in the real store; writes go to a recording
sink so the test sees the exact events the click would append."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.ui.conftest import PageHarness, PortalStore, pages, portal_store  # noqa: F401
from ui.auth import Identity
from ui.ingest_writer import RecordingSink

DAVE = Identity("dave", "Dave Singh", frozenset({"vision", "risk"}))  # not a member of local


def test_rules_are_made_only_in_the_signed_in_persons_teams(pages: PageHarness) -> None:  # noqa: F811
    """A team named in the URL that the person is not in is not offered (the page falls back to
    one of theirs), and the rule event carries that team and the person as the actor."""
    sink = RecordingSink()
    app: AppTest = pages.open("views/automations.py", DAVE, {"team": "local"}, sink)
    assert not app.exception
    team = app.selectbox(key="automations.team")
    assert list(team.options) == ["risk", "vision"]
    assert team.value == "risk"
    app.radio(key="automations.new.kind").set_value("inbox").run()
    assert [t.label for t in app.text_input if t.key == "automations.new.target"] == ["User"]
    app.text_input(key="automations.new.name").input("mine")
    app.selectbox(key="automations.new.trigger").select("comment.mention")
    app.text_input(key="automations.new.target").input("dave")
    next(b for b in app.button if b.label == "Create rule").click().run()
    assert not app.exception
    assert [str(e.value) for e in app.error] == []
    (event,) = sink.events
    assert event.WhichOneof("payload") == "rule_created"
    assert event.envelope.team == "risk"
    assert event.envelope.actor.on_behalf_of == "dave"
    assert event.envelope.aggregate_id == "mine"
    assert event.rule_created.definition.actions[0].inbox.user_id == "dave"
