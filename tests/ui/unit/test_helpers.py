"""The portal's helpers, without Streamlit or servers: what they decide, not how it looks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from cairn.errors import AuthenticationError, ConfigError, ValidationError
from cairn.v1 import envelope_pb2
from query.collaboration import Comment
from query.lineage import Edge, GraphNode, LineageGraph, Node
from query.people import ApiKeyInfo
from reports.format import People, Person, ago, md, size
from reports.markdown import to_html
from ui import events, threads
from ui.auth import Identity, api_key_identity, effective_mode, oidc_identity, password_identity
from ui.events import Anchor, Target, TargetKind
from ui.ingest_writer import KeyRing, RecordingSink, key_id_of
from ui.lineage_view import format_node, layers, parse_node
from ui.links import permalink, split_ids
from ui.runs_view import RunsView, group_table
from ui.settings import AuthMode, PortalSettings, parse_api_keys
from ui.users import (
    LocalUser,
    authenticate,
    hash_password,
    load_users,
    verify_password,
    write_users,
)

RUN = Target(TargetKind.RUN, "run-1", "risk", "churn")
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

# --- safe markdown ------------------------------------------------------------------------------

HOSTILE = [
    "<script>window.__pwned = 1</script>",
    '<img src=x onerror="window.__pwned = 1">',
    "[click me](javascript:window.__pwned=1)",
    "[click](JaVaScRiPt:alert(1))",
    "![pic](javascript:alert(1))",
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    '<a href="javascript:alert(1)">x</a>',
    "<iframe src=https://evil.example></iframe>",
    '<svg onload="alert(1)"></svg>',
    "[x](vbscript:msgbox)",
]


class _Elements(HTMLParser):
    """Every element and attribute in a piece of HTML (what a browser would make live)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [(name, value or "") for name, value in attrs]


@pytest.mark.parametrize("body", HOSTILE)
def test_markdown_never_produces_live_html_or_script_urls(body: str) -> None:
    parsed = _Elements()
    parsed.feed(to_html(body))
    assert not {"script", "img", "iframe", "svg", "object", "embed"} & set(parsed.tags)
    assert not [name for name, _ in parsed.attributes if name.startswith("on")]
    for name, value in parsed.attributes:
        if name in ("href", "src"):
            assert value.split(":", 1)[0].lower() in ("http", "https", "mailto"), value


def test_markdown_keeps_formatting_links_and_highlights_mentions() -> None:
    html = to_html(
        "**bold** `@code` [docs](https://example.com) @alice\n\n| a | b |\n|---|---|\n| 1 | 2 |"
    )
    assert "<strong>bold</strong>" in html
    assert '<a href="https://example.com" rel="noopener noreferrer nofollow">docs</a>' in html
    assert '<span class="mention">@alice</span>' in html
    assert "<code>@code</code>" in html  # no mention inside code
    assert "<table>" in html


# --- events -------------------------------------------------------------------------------------


def test_comment_events_name_the_person_and_carry_mentions_and_anchor() -> None:
    event = events.comment_added(
        RUN, "alice", "cc @bob and @carol, not `@dave`", anchor=Anchor("val/loss", 10, 20)
    )
    env = event.envelope
    assert env.actor.on_behalf_of == "alice"
    assert not env.actor.id
    assert env.aggregate_kind == envelope_pb2.AGGREGATE_KIND_RUN
    assert env.project == "churn"
    assert env.event_id[14] == "7"  # a UUIDv7
    assert list(event.comment_added.mentions) == ["bob", "carol"]
    assert event.comment_added.anchor.step_max == 20


def test_run_events_are_sequenced_after_the_runs_own_in_batch_order() -> None:
    batch = [events.comment_added(RUN, "alice", "a"), events.comment_added(RUN, "alice", "b")]
    batch.append(events.project_notes_set("risk", "churn", "alice", "notes"))
    events.assign_run_sequences(batch, lambda run_id: 41)
    assert [e.envelope.sequence for e in batch] == [42, 43, 0]  # project events stay unsequenced


def test_decisions_are_refused_on_models() -> None:
    with pytest.raises(ValueError, match="run or a project"):
        events.decision_recorded(Target(TargetKind.MODEL, "m", "risk", "churn"), "alice", "t")


def test_shares_and_transfers_build_the_contracts_messages() -> None:
    shared = events.resource_shared(RUN, "alice", "team", "vision", "comment", "review")
    assert shared.resource_shared.grantee.id == "vision"
    assert shared.resource_shared.access == 2
    moved = events.ownership_transferred(
        Target.project_of("risk", "churn"), "alice", "bob", "alice", "left"
    )
    assert moved.envelope.aggregate_id == "churn"
    assert moved.ownership_transferred.to_user == "alice"


# --- threads and optimistic comments ------------------------------------------------------------


def _comment(
    comment_id: str, minutes: int, reply_to: str = "", edits: int = 0, deleted: bool = False
) -> Comment:
    at = NOW + timedelta(minutes=minutes)
    return Comment(comment_id, "run", "run-1", "risk", "churn", "alice", f"body {comment_id}", "", 0, 0,
                   reply_to, (), at, at, edits, deleted, "")  # fmt: skip


def test_threads_put_replies_under_their_parents_in_time_order() -> None:
    order = threads.threaded(
        [
            _comment("c", 3, reply_to="a"),
            _comment("b", 2),
            _comment("a", 1),
            _comment("d", 4, reply_to="c"),
        ]
    )
    assert [(c.comment_id, depth) for c, depth in order] == [("a", 0), ("c", 1), ("d", 2), ("b", 0)]


def test_orphan_replies_are_shown_as_roots() -> None:
    assert [c.comment_id for c, _ in threads.threaded([_comment("x", 1, reply_to="gone")])] == ["x"]


def test_optimistic_copies_show_until_the_projection_has_them() -> None:
    new = _comment("new", 5)
    shown, waiting = threads.merge_pending([_comment("a", 1)], [new])
    assert [c.comment_id for c in shown] == ["a", "new"]
    assert waiting == [new]
    shown, waiting = threads.merge_pending([_comment("a", 1), _comment("new", 5)], [new])
    assert waiting == []
    assert len(shown) == 2


def test_pending_edits_and_deletions_replace_the_projected_version_until_projected() -> None:
    old = _comment("a", 1)
    edited = threads.edited(old, "new body", NOW)
    shown, waiting = threads.merge_pending([old], [edited])
    assert shown[0].body_markdown == "new body"
    assert waiting
    _, waiting = threads.merge_pending([_comment("a", 1, edits=1)], [edited])
    assert not waiting
    gone = threads.deleted(old, "alice", NOW)
    assert threads.merge_pending([old], [gone])[0][0].deleted
    assert not threads.merge_pending([_comment("a", 1, deleted=True)], [gone])[1]


def test_the_optimistic_copy_matches_the_event() -> None:
    event = events.comment_added(RUN, "alice", "hi", reply_to="p")
    copy = threads.optimistic(event, "alice")
    assert (copy.target_kind, copy.target_id, copy.reply_to, copy.body_markdown) == (
        "run",
        "run-1",
        "p",
        "hi",
    )


# --- users, settings, sign-in -------------------------------------------------------------------


def test_passwords_are_scrypt_hashed_and_verified(tmp_path: Path) -> None:
    stored = hash_password("s3cret")
    assert stored.startswith("scrypt$")
    assert "s3cret" not in stored
    assert verify_password("s3cret", stored)
    assert not verify_password("S3cret", stored)
    assert not verify_password("x", "md5$whatever")
    path = tmp_path / "users.json"
    write_users(path, [LocalUser("alice", "Alice", stored, frozenset({"risk"}), admin=True)])
    assert path.stat().st_mode & 0o777 == 0o600
    users = load_users(path)
    assert authenticate(users, "alice", "s3cret") == users["alice"]
    assert authenticate(users, "alice", "nope") is None
    assert authenticate(users, "mallory", "s3cret") is None


def test_a_malformed_users_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    path.write_text(json.dumps({"users": [{"user_id": "x"}]}))
    with pytest.raises(ConfigError, match="password_scrypt"):
        load_users(path)


def test_password_identity_comes_from_the_users_file(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    write_users(
        path, [LocalUser("dave", "Dave", hash_password("pw"), frozenset({"risk", "vision"}))]
    )
    assert password_identity(path, "dave", "pw") == Identity(
        "dave", "Dave", frozenset({"risk", "vision"})
    )
    assert password_identity(path, "dave", "bad") is None
    assert password_identity(None, "dave", "pw") is None


def test_api_keys_sign_in_as_their_person_or_service_never_as_admin() -> None:
    key = "cairn_abc123_secret"
    person = ApiKeyInfo("abc123", "risk", "writer", "laptop", "dave", False)
    found = api_key_identity(
        key,
        key_works=lambda k: True,
        key_info=lambda i: person,
        teams_of=lambda u: frozenset({"vision"}),
    )
    assert found == Identity("dave", "dave", frozenset({"risk", "vision"}), False, "api_key")
    service = ApiKeyInfo("abc123", "risk", "admin", "ci", "", False)
    found = api_key_identity(
        key, key_works=lambda k: True, key_info=lambda i: service, teams_of=lambda u: frozenset()
    )
    assert (found.user_id, found.teams, found.admin) == ("service:ci", frozenset({"risk"}), False)
    with pytest.raises(AuthenticationError, match="not a Cairn API key"):
        api_key_identity(
            "hunter2",
            key_works=lambda k: True,
            key_info=lambda i: None,
            teams_of=lambda u: frozenset(),
        )
    with pytest.raises(AuthenticationError, match="does not accept"):
        api_key_identity(
            key,
            key_works=lambda k: False,
            key_info=lambda i: person,
            teams_of=lambda u: frozenset(),
        )


def test_oidc_identity_uses_email_and_members_and_users_file_admins(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    write_users(
        path, [LocalUser("ops@example.com", "Ops", hash_password("x"), frozenset(), admin=True)]
    )
    found = oidc_identity(
        {"email": "ops@example.com", "name": "Ops"},
        teams_of=lambda u: frozenset({"risk"}),
        users_file=path,
    )
    assert found == Identity("ops@example.com", "Ops", frozenset({"risk"}), True, "oidc")
    with pytest.raises(AuthenticationError):
        oidc_identity({}, teams_of=lambda u: frozenset())


def test_auth_mode_auto_follows_the_secrets() -> None:
    assert effective_mode(AuthMode.AUTO, True) is AuthMode.OIDC
    assert effective_mode(AuthMode.AUTO, False) is AuthMode.LOCAL
    assert effective_mode(AuthMode.LOCAL, True) is AuthMode.LOCAL


def test_settings_read_keys_users_and_store_from_the_environment() -> None:
    settings = PortalSettings.from_env(
        {
            "CAIRN_HOME": "/srv/cairn",
            "CAIRN_PORTAL_API_KEY": "risk=cairn_a_x, cairn_b_y",
            "CAIRN_PORTAL_AUTH": "local",
        }
    )
    assert settings.api_keys == {"risk": "cairn_a_x"}
    assert settings.unscoped_api_keys == ("cairn_b_y",)
    assert settings.api_keys_file == Path("/srv/cairn/portal-keys.json")
    assert settings.users_file == Path("/srv/cairn/portal-users.json")
    assert settings.artifact_store == "/srv/cairn/artifacts"
    assert settings.auth_mode is AuthMode.LOCAL
    with pytest.raises(ConfigError):
        PortalSettings.from_env({"CAIRN_PORTAL_AUTH": "saml"})
    with pytest.raises(ConfigError):
        parse_api_keys("risk=")


def test_the_key_ring_reads_the_keys_file_when_it_changes_and_resolves_bare_keys(
    tmp_path: Path,
) -> None:
    path = tmp_path / "keys.json"
    ring = KeyRing(
        configured={"local": "cairn_l_1"},
        keys_file=path,
        unscoped=["cairn_k9_s"],
        resolve_team=lambda i: "ops" if i == "k9" else None,
    )
    assert ring.keys() == {"local": "cairn_l_1", "ops": "cairn_k9_s"}
    path.write_text(json.dumps({"risk": "cairn_r_2"}))
    assert ring.key_for("risk") == "cairn_r_2"
    with pytest.raises(Exception, match="no API key for team 'vision'"):
        ring.key_for("vision")
    assert key_id_of("cairn_abc_def_ghi") == "abc"
    assert key_id_of("nope") == ""


def test_the_recording_sink_keeps_what_was_appended() -> None:
    sink = RecordingSink()
    result = sink.append([events.comment_added(RUN, "alice", "x")])
    assert result.events == 1
    assert result.teams == ("risk",)
    assert len(sink.events) == 1


# --- runs table, links, lineage, people ---------------------------------------------------------


def test_runs_view_round_trips_through_the_url_leaving_defaults_out() -> None:
    view = RunsView(
        "status = 'failed'", ("name", "params.lr"), "metrics.loss asc", "tags.stage", 1000
    )
    assert RunsView.from_params(view.to_params()) == view
    assert RunsView().to_params() == {}
    assert RunsView.from_params({"limit": "7"}).limit == 10_000  # only offered sizes
    assert view.query_columns(["name", "params.lr"]) == (
        *("run_id", "name", "status", "started", "duration"),
        *("params.lr", "tags.stage", "created"),
    )


def test_grouping_aggregates_numeric_columns_including_text_params() -> None:
    runs = pd.DataFrame(
        {
            "run_id": ["a", "b", "c"],
            "params.depth": ["6", "6", None],
            "metrics.auc": [0.9, 0.8, 0.7],
            "name": ["x", "y", "z"],
        }
    )
    table = group_table(runs, "params.depth").set_index("depth")
    assert table.loc["6", "runs"] == 2
    assert table.loc["(none)", "runs"] == 1
    assert table.loc["6", "auc mean"] == pytest.approx(0.85)
    assert "name mean" not in table.columns


def test_permalinks_carry_the_view_and_ids_split_cleanly() -> None:
    assert (
        permalink("http://p:8501/", "compare", {"runs": "a,b", "x": ""})
        == "http://p:8501/compare?runs=a%2Cb"
    )
    assert permalink("http://p", "projects") == "http://p/"
    assert split_ids("a, b,,a ,c") == ["a", "b", "c"]


def _edge(source: Node, relation: str, target: Node) -> Edge:
    return Edge(source, relation, target, "risk", "churn", "alice", NOW)


def test_lineage_nodes_parse_from_urls_and_lay_out_in_data_flow_order() -> None:
    assert parse_node("dataset:sha256:ab") == Node("dataset", "sha256:ab")
    assert parse_node("model_version:churn:2") == Node("model_version", "churn", 2)
    assert format_node(Node("model_version", "churn", 2)) == "model_version:churn:2"
    with pytest.raises(ValidationError):
        parse_node("model_version:churn")
    data, run, art, model = (
        Node("dataset", "d"),
        Node("run", "r"),
        Node("artifact", "a"),
        Node("model_version", "m", 1),
    )
    graph = LineageGraph(model, "both", 3, tuple(GraphNode(n, "", 0) for n in (model, run, data, art)),
                         (_edge(run, "used", data), _edge(run, "produced", art), _edge(model, "built_by", run)), False)  # fmt: skip
    assert layers(graph) == {data: 0, run: 1, art: 2, model: 2}


def test_people_keep_former_members_names_marked() -> None:
    people = People(
        {"bob": Person("bob", "Bob Okafor", False), "alice": Person("alice", "Alice", True)}
    )
    assert people.name("bob") == "Bob Okafor (left)"
    assert people.name("alice") == "Alice"
    assert people.name("stranger") == "stranger"
    assert people.ids(active_only=True) == ["alice"]


def test_formatting_of_sizes_and_relative_times() -> None:
    assert size(0) == "0 B"
    assert size(1536) == "1.5 KiB"
    assert size(5 << 30) == "5.0 GiB"
    assert ago(NOW - timedelta(hours=3), now=NOW) == "3 h ago"
    assert ago(datetime(2026, 5, 30, 12, 0), now=NOW) == "2 days ago"  # naive means UTC


def test_names_people_chose_are_shown_as_literal_markdown() -> None:
    escaped = md("[x](javascript:alert(1)) **bold** :smile: $x$")
    assert "](" not in escaped.replace("\\]\\(", "")
    assert escaped.startswith("\\[x\\]\\(javascript\\:")
    assert "\\*\\*bold\\*\\*" in escaped
    assert "\\$x\\$" in escaped
