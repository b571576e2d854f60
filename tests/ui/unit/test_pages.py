"""Each page of the portal, run by ``streamlit.testing`` against the demo in a real store.

The pages' reads are the real ``query/`` functions over the projected demo; their writes go to a
recording sink, so each test can check the exact events a click would append through ingest.
"""

from __future__ import annotations

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from cairn.v1 import envelope_pb2
from reports.format import md
from tests.ui.conftest import ADMIN, ALICE, CAROL, PageHarness, PortalStore
from ui.context import IDENTITY_KEY, SINK_KEY
from ui.ingest_writer import RecordingSink


def _texts(app: AppTest) -> str:
    """Everything the page shows as text (markdown, captions, html, code, alerts)."""
    parts: list[str] = []
    for kind in ("markdown", "caption", "code", "error", "warning", "success", "info", "subheader"):
        parts += [str(getattr(element, "value", "")) for element in getattr(app, kind)]
    parts += [str(element.proto.body) for element in app.get("html")]
    return "\n".join(parts)


def _submit(app: AppTest, label: str) -> AppTest:
    """Click the form submit button labelled ``label`` (after filling the form) and rerun."""
    button = next(b for b in app.button if b.label == label)
    return button.click().run()


def _frames(app: AppTest) -> list:  # type: ignore[type-arg]
    return [element.value for element in app.dataframe]


# --- Projects -----------------------------------------------------------------------------------


def test_projects_page_lists_only_the_callers_projects_with_their_activity(
    pages: PageHarness,
) -> None:
    app = pages.open("views/projects.py", ALICE)
    assert not app.exception
    titles = [s.value for s in app.subheader]
    assert {"Customer churn", "Card fraud"} <= set(titles)
    assert "Weld defects" not in titles  # vision's project
    text = _texts(app)
    assert "churn-classifier" in text
    assert "in production" in text
    assert "Dave Singh" in text  # the latest comment's author, by name


def test_projects_search_narrows_projects_and_finds_runs_by_name(pages: PageHarness) -> None:
    app = pages.open("views/projects.py", ALICE, {"q": "fraud"})
    assert [s.value for s in app.subheader if s.value in ("Customer churn", "Card fraud")] == [
        "Card fraud"
    ]
    app = pages.open("views/projects.py", ALICE, {"q": "lgbm"})
    labels = [link.proto.label for link in app.get("page_link")]
    assert any(label.startswith("lgbm-v1") for label in labels)


def test_run_names_in_search_links_stay_text(
    pages: PageHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run named with Markdown (a link, bold) is listed as those characters, escaped: page
    link labels render Markdown, so an unescaped name could become a link to anywhere."""
    from ui import data

    hostile = "**boss** [x](https://evil.example)"
    found = pd.DataFrame(
        [{"run_id": "r1", "team": "risk", "project": "churn", "name": hostile,
          "owner": "alice", "status": "finished", "created": pd.Timestamp("2026-12-01")}]
    )  # fmt: skip
    monkeypatch.setattr(data, "search", lambda *args, **kwargs: found)
    app = pages.open("views/projects.py", ALICE, {"q": "boss"})
    assert not app.exception
    (label,) = [link.proto.label for link in app.get("page_link") if "boss" in link.proto.label]
    assert label.startswith(md(hostile))
    assert "](https" not in label


# --- Runs ---------------------------------------------------------------------------------------


def test_runs_table_shows_visible_runs_with_former_owners_named(pages: PageHarness) -> None:
    app = pages.open("views/runs.py", ALICE)
    assert not app.exception
    table = _frames(app)[0]
    assert len(table) == 19  # risk's runs only
    assert "Bob Okafor (left)" in set(table["owner"])


def test_runs_filter_sort_columns_and_grouping_live_in_the_url(pages: PageHarness) -> None:
    params = {
        "filter": "params.max_depth >= 6 and status = 'finished'",
        "cols": "name,params.learning_rate,params.max_depth,metrics.val/auc",
        "sort": "metrics.val/auc desc",
        "group": "params.max_depth",
    }
    app = pages.open("views/runs.py", ALICE, params)
    assert not app.exception
    table, groups = _frames(app)
    assert list(table.columns[-4:]) == [
        "name",
        "params.learning_rate",
        "params.max_depth",
        "metrics.val/auc",
    ]
    # the name is a link to the run's permalink, the name itself its fragment (shown)
    assert table["name"].iloc[0].endswith("#xgb-lr0.1-d6")  # best AUC first
    assert table["name"].iloc[0].startswith("http://portal.test/run?id=")
    assert set(table["params.max_depth"]) == {6, 8, 10}
    assert set(groups["max_depth"]) == {"6", "8", "10"}  # readable headers
    assert "val/auc mean" in groups.columns
    assert not groups["created"].astype(str).str.fullmatch(r"\d+").any()  # dates, not integers
    assert app.query_params["filter"] == params["filter"]
    assert app.query_params["group"] == "params.max_depth"


def test_runs_filter_errors_point_at_the_broken_character(pages: PageHarness) -> None:
    app = pages.open("views/runs.py", ALICE, {"filter": "params.lr <"})
    assert not app.exception
    assert "does not parse" in app.error[0].value
    assert "^" in app.code[0].value


def test_runs_filter_typed_by_the_user_updates_table_and_url(pages: PageHarness) -> None:
    app = pages.open("views/runs.py", ALICE)
    app.text_input(key="runs.filter").input("tags.stage = 'baseline'").run()
    assert [name.split("#")[-1] for name in _frames(app)[0]["name"]] == ["baseline-logreg"]
    assert app.query_params["filter"] == "tags.stage = 'baseline'"


# --- Run ----------------------------------------------------------------------------------------


def test_run_page_shows_overview_and_interactive_charts(
    pages: PageHarness, portal_store: PortalStore
) -> None:
    run_id = portal_store.run_ids["xgb-lr0.1-d6"]
    app = pages.open("views/run.py", ALICE, {"id": run_id, "keys": "val/loss,val/auc", "log": "1"})
    assert not app.exception
    assert app.title[0].value == "xgb-lr0.1-d6"
    charts = app.get("plotly_chart")
    assert len(charts) == 2
    assert '"type":"log"' in charts[0].proto.spec.replace(" ", "")
    assert "comment: Alice Moreau" in charts[0].proto.spec  # the anchored comment's band
    assert "Parent run" in [link.proto.label for link in app.get("page_link")]


def test_run_sections_show_params_code_artifacts_and_environment(
    pages: PageHarness, portal_store: PortalStore
) -> None:
    run_id = portal_store.run_ids["xgb-lr0.1-d6"]
    params = pages.open("views/run.py", ALICE, {"id": run_id, "tab": "Params"})
    assert "learning_rate" in set(_frames(params)[0]["param"])
    code = pages.open("views/run.py", ALICE, {"id": run_id, "tab": "Code"})
    assert "early_stopping_rounds" in code.code[0].value
    artifacts = pages.open("views/run.py", ALICE, {"id": run_id, "tab": "Artifacts"})
    assert len(artifacts.get("download_button")) == 1
    env = pages.open("views/run.py", ALICE, {"id": run_id, "tab": "Environment"})
    assert "xgboost" in set(_frames(env)[1]["package"])


def test_posting_a_comment_appends_it_for_the_person_and_shows_it_at_once(
    pages: PageHarness, portal_store: PortalStore
) -> None:
    run_id = portal_store.run_ids["xgb-lr0.1-d6"]
    sink = RecordingSink()
    app = pages.open("views/run.py", ALICE, {"id": run_id, "tab": "Discussion"}, sink)
    key = f"run.{run_id}"
    app.text_area(key=f"{key}.compose.text").input("Looks good, **ship it** @dave")
    _submit(app, "Post comment")
    assert not app.exception
    (event,) = sink.events
    env = event.envelope
    assert event.WhichOneof("payload") == "comment_added"
    assert env.actor.on_behalf_of == "alice"
    assert env.aggregate_kind == envelope_pb2.AGGREGATE_KIND_RUN
    assert env.aggregate_id == run_id
    assert env.sequence > 5  # after the run's own events
    assert list(event.comment_added.mentions) == ["dave"]
    assert "<strong>ship it</strong>" in _texts(app)  # the optimistic copy, before projection


def test_admins_see_a_deleted_comments_body_and_others_only_the_tombstone(
    pages: PageHarness, portal_store: PortalStore
) -> None:
    run_id = portal_store.run_ids["xgb-lr0.1-d6"]
    params = {"id": run_id, "tab": "Discussion"}
    assert "leaked label column" not in _texts(pages.open("views/run.py", ALICE, params))
    assert "Comment deleted by Dave Singh" in _texts(pages.open("views/run.py", ALICE, params))
    assert "leaked label column" in _texts(pages.open("views/run.py", ADMIN, params))


def test_a_run_of_another_team_is_not_found_and_a_shared_one_is(
    pages: PageHarness, portal_store: PortalStore
) -> None:
    hidden = pages.open("views/run.py", CAROL, {"id": portal_store.run_ids["baseline-logreg"]})
    assert "not visible to you" in hidden.error[0].value
    shared = pages.open("views/run.py", CAROL, {"id": portal_store.run_ids["xgb-lr0.1-d6"]})
    assert not shared.error
    assert shared.title[0].value == "xgb-lr0.1-d6"


# --- Compare ------------------------------------------------------------------------------------


def _three(store: PortalStore) -> str:
    return ",".join(store.run_ids[n] for n in ("xgb-lr0.1-d6", "xgb-lr0.1-d8", "xgb-lr0.3-d6"))


def test_compare_shows_overlays_and_only_the_params_that_differ(
    pages: PageHarness, portal_store: PortalStore
) -> None:
    app = pages.open("views/compare.py", ALICE, {"runs": _three(portal_store), "keys": "val/auc"})
    assert not app.exception
    (chart,) = app.get("plotly_chart")
    assert chart.proto.spec.count('"name":"xgb-') >= 3  # one line per run
    params = pages.open("views/compare.py", ALICE, {"runs": _three(portal_store), "tab": "Params"})
    differing = _frames(params)[1]
    assert set(differing["param"]) == {"learning_rate", "max_depth"}


def test_compare_diffs_code_environment_and_plots_parameters(
    pages: PageHarness, portal_store: PortalStore
) -> None:
    runs = _three(portal_store)
    code = pages.open(
        "views/compare.py",
        ALICE,
        {"runs": runs, "tab": "Code", "b": portal_store.run_ids["xgb-lr0.3-d6"]},
    )
    assert "early_stopping_rounds" in code.code[0].value
    env = pages.open(
        "views/compare.py",
        ALICE,
        {"runs": runs, "tab": "Environment", "b": portal_store.run_ids["xgb-lr0.1-d8"]},
    )
    packages = _frames(env)[-1]
    assert list(packages["package"]) == ["xgboost"]
    for tab in ("Parallel coordinates", "Scatter", "Datasets"):
        app = pages.open("views/compare.py", ALICE, {"runs": runs, "tab": tab})
        assert not app.exception, tab


# --- Lineage, Models ----------------------------------------------------------------------------


def test_lineage_of_the_production_model_reaches_its_raw_data(pages: PageHarness) -> None:
    app = pages.open(
        "views/lineage.py", ALICE, {"node": "model_version:churn-classifier:2", "depth": "5"}
    )
    assert not app.exception
    nodes = _frames(app)[0]
    assert {"churn-raw", "churn-features", "build-features-v3", "xgb-lr0.1-d6"} <= set(
        nodes["name"]
    )


def test_lineage_rejects_a_malformed_node(pages: PageHarness) -> None:
    app = pages.open("views/lineage.py", ALICE, {"node": "planet:mars"})
    assert "not a lineage node" in app.error[0].value


def test_models_page_explains_how_the_production_version_was_built(pages: PageHarness) -> None:
    app = pages.open("views/models.py", ALICE)
    assert not app.exception
    downloads = app.get("download_button")
    assert [d.proto.label for d in downloads[:3]] == [
        "Download v2",  # the version's artifact (Models page, registry actions)
        "Download Markdown",
        "Download HTML",
    ]
    report = _texts(app)
    assert "How churn-classifier v2 was built" in report
    assert "Ship xgb-lr0.1-d6 as churn-classifier v2" in report  # the decision, quoted
    assert "churn-features" in report
    assert "sha256:" in report
    assert "Bob Okafor (left)" in report  # who did what, former members by name


# --- Discussion, Handover, Sharing --------------------------------------------------------------


def test_discussion_lists_everything_said_in_a_project(pages: PageHarness) -> None:
    app = pages.open("views/discussion.py", ALICE, {"project": "risk/churn"})
    assert not app.exception
    text = _texts(app)
    assert "OOM at depth 10" in text  # on a run
    assert "Scoring service p99" in text  # on the model
    assert "Features v3 are in" in text  # on the project


def test_recording_a_decision_appends_it_on_the_project(pages: PageHarness) -> None:
    sink = RecordingSink()
    app = pages.open("views/discussion.py", ALICE, {"project": "risk/churn"}, sink)
    app.text_input(key="discussion.decide.title").input("Retrain monthly")
    _submit(app, "Record decision")
    (event,) = sink.events
    assert event.decision_recorded.title == "Retrain monthly"
    assert event.envelope.aggregate_kind == envelope_pb2.AGGREGATE_KIND_PROJECT


def test_handover_lists_runs_whose_owner_left_and_transfers_everything(pages: PageHarness) -> None:
    sink = RecordingSink()
    app = pages.open("views/handover.py", ALICE, {"team": "risk"}, sink)
    assert not app.exception
    orphans = _frames(app)[1]
    assert set(orphans["owner"]) == {"Bob Okafor (left)"}
    assert len(orphans) == 4
    app.selectbox(key="handover.to").select("alice")
    app.text_input(key="handover.reason").input("Bob left; Alice takes fraud")
    _submit(app, "Transfer ownership")
    assert not app.exception
    transfers = [e.ownership_transferred for e in sink.events]
    assert len(transfers) == 5  # four runs and the fraud project
    assert {(t.from_user, t.to_user) for t in transfers} == {("bob", "alice")}
    assert {e.envelope.actor.on_behalf_of for e in sink.events} == {"alice"}


def test_sharing_a_run_with_another_team_appends_a_share(
    pages: PageHarness, portal_store: PortalStore
) -> None:
    sink = RecordingSink()
    app = pages.open("views/sharing.py", ALICE, None, sink)
    app.text_input(key="sharing.runs.text").input("baseline-log").run()
    app.multiselect(key="sharing.runs.pick").select(portal_store.run_ids["baseline-logreg"]).run()
    app.text_input(key="sharing.grantee").input("vision")
    _submit(app, "Share")
    (event,) = sink.events
    assert event.resource_shared.grantee.id == "vision"
    assert event.envelope.aggregate_id == portal_store.run_ids["baseline-logreg"]


def test_every_page_renders_for_every_demo_person(pages: PageHarness) -> None:
    for page in (
        "projects",
        "runs",
        "run",
        "compare",
        "lineage",
        "models",
        "discussion",
        "handover",
        "sharing",
    ):
        for person in (ALICE, CAROL, ADMIN):
            app = pages.open(f"views/{page}.py", person)
            assert not app.exception, (page, person.user_id, app.exception)


# --- Signing in ---------------------------------------------------------------------------------


def test_visitors_must_sign_in_and_a_password_signs_them_in(
    pages: PageHarness, portal_store: PortalStore
) -> None:
    app = pages.open("views/runs.py", None)
    assert app.title[0].value.endswith("Cairn")
    assert not app.dataframe  # no data before signing in
    app.text_input(key="sign_in.user").input("carol")
    app.text_input(key="sign_in.password").input("wrong")
    _submit(app, "Sign in")
    assert "wrong password" in app.error[0].value
    app.text_input(key="sign_in.user").input("carol")
    app.text_input(key="sign_in.password").input(portal_store.password)
    _submit(app, "Sign in")
    assert app.session_state[IDENTITY_KEY].teams == frozenset({"vision", "local"})
    assert app.session_state[SINK_KEY] is not None


def test_run_page_shows_the_fork_tree_rewinds_and_marks_them_on_the_charts(
    pages: PageHarness, portal_store: PortalStore
) -> None:
    from localstack.demo import FORK_NAME

    fork_id, parent_id = portal_store.run_ids[FORK_NAME], portal_store.run_ids["effnet-b3"]
    app = pages.open("views/run.py", CAROL, {"id": fork_id, "keys": "val/loss"})
    assert not app.exception
    text = _texts(app)
    assert "Fork tree" in text
    assert "Rewound to step 1200" in text
    labels = [link.proto.label for link in app.get("page_link")]
    assert any("forked from effnet-b3 at step 1000" in label for label in labels), labels
    spec = app.get("plotly_chart")[0].proto.spec
    assert "forked at step 1000" in spec
    assert "rewound to step 1200" in spec
    assert "earlier attempt 1" in spec  # the abandoned points, dotted
    parent = pages.open("views/run.py", CAROL, {"id": parent_id})
    assert not parent.exception
    assert "Forks of this run (1):" in _texts(parent)
    hidden = pages.open("views/run.py", ALICE, {"id": fork_id})  # risk does not see vision's
    assert "not visible to you" in hidden.error[0].value
    assert "Fork tree" not in _texts(hidden)
