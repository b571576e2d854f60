"""R2: portal pages show a signed-in person only what R1 lets them see, run by
``streamlit.testing`` against the demo in the real store: every page opened as Carol (team
vision), with the runs of another team she may not see named in the URL where a page takes
them; none of their names appears anywhere on any page, and a permalink to one is "not found or
not visible"."""

from __future__ import annotations

from typing import Any

from streamlit.testing.v1 import AppTest

from query.access import Caller
from query.runs import search_runs
from tests.ui.conftest import ALICE, CAROL, PageHarness, PortalStore, pages, portal_store  # noqa: F401

PAGES = (
    "views/projects.py",
    "views/runs.py",
    "views/compare.py",
    "views/lineage.py",
    "views/models.py",
    "views/discussion.py",
    "views/handover.py",
    "views/sharing.py",
)


def page_text(app: AppTest) -> str:
    """Everything a page shows as text: headings, markdown, captions, tables, choices, errors."""
    parts: list[Any] = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "text", "error", "info"):
        parts += [element.value for element in getattr(app, kind)]
    for kind in ("dataframe", "table"):
        parts += [element.value.to_csv() for element in getattr(app, kind)]
    for kind in ("selectbox", "multiselect", "radio"):
        parts += [option for element in getattr(app, kind) for option in element.options]
    return "\n".join(str(part) for part in parts)


def test_pages_never_show_another_teams_runs(
    pages: PageHarness,  # noqa: F811
    portal_store: PortalStore,  # noqa: F811
) -> None:
    client = portal_store.client()
    carol = Caller(CAROL.user_id, CAROL.teams)
    mine = set(search_runs(client, carol, limit=1000, columns=["name"])["name"])
    every = set(search_runs(client, Caller("t", admin=True), limit=1000, columns=["name"])["name"])
    hidden = sorted(every - mine)
    assert hidden, "the demo must have runs Carol may not see"
    hidden_ids = ",".join(portal_store.run_ids[name] for name in hidden[:5])
    shown_anywhere: dict[str, list[str]] = {}
    for page in PAGES:
        app = pages.open(page, CAROL, {"runs": hidden_ids, "run": hidden_ids.split(",")[0]})
        text = page_text(app)
        leaked = [name for name in hidden if name in text]
        if leaked:
            shown_anywhere[page] = leaked
    assert shown_anywhere == {}
    # The same page shows them to someone who may see them: the check above can fail.
    alice = pages.open("views/runs.py", ALICE)
    assert any(name in page_text(alice) for name in hidden)
    permalink = pages.open("views/run.py", CAROL, {"id": portal_store.run_ids[hidden[0]]})
    assert "not visible to you" in permalink.error[0].value
