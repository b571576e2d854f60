"""Saved views of the Runs page, and each person's default columns: a self-contained block.

A saved view is the page's URL state (filter, columns, sort, grouping, charts: whatever
parameters the page keeps in its address) saved under a name as a ``view_saved`` event through
ingest; ``runs?view=<id>`` opens it for anyone who may see it (docs/permissions.md, P9 and R19).
The page calls four functions:

- :func:`opened_params` first, with the URL's parameters: a ``view=<id>`` parameter is replaced
  by the view's saved parameters (a view the caller may not see shows "not visible to you" and
  the page opens as without it).
- :func:`default_columns` for the person's default columns (the page uses them when its URL
  names none).
- :func:`panel` where the page's controls are, with the parameters it is about to write to the
  URL and the columns it shows: the "Views" selector (open, copy link, share, delete) and "Save view".
- :func:`save_default_columns` (the panel offers it as "Save columns as my default").

Who may do what (P9): anyone signed in saves personal views, and team views in their teams;
deleting or sharing a view is for its owner, a team admin of its team, or a portal admin. A
person's default columns are a personal view flagged ``user_default`` (the newest one wins), so
they travel through ingest like any other view and nothing is written to ClickHouse directly.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import streamlit as st

from cairn_contract.envelopes import new_envelope
from cairn_contract.errors import NotFoundError, PermissionDeniedError, ValidationError
from cairn_contract.ids import new_uuid7
from cairn_contract.v1 import envelope_pb2, events_pb2, views_pb2
from query import principals
from query import saved_views as reads
from query.access import Caller
from reports.format import md
from ui import actions, context, links
from ui.events import Target, TargetKind

PAGE = "runs"
VIEW_PARAM = "view"  # runs?view=<id>
COLUMNS_PARAM = "cols"  # the Runs page's comma-separated columns
STATE_VERSION = 1  # of the Runs page's parameter scheme (ViewSaved.state_version)
WIDGET_PREFIX = "runs."  # the Runs page's widget keys: cleared so a loaded view shows as saved
DEFAULT_NAME = "Default columns"
NOT_VISIBLE = "This saved view does not exist or is not visible to you."
_KEY = "saved_views."  # this block's own widget and session keys
_VISIBILITY = {
    "personal": views_pb2.VIEW_VISIBILITY_PERSONAL,
    "team": views_pb2.VIEW_VISIBILITY_TEAM,
}
MAX_NAME = 256


# -- events (pure) ----------------------------------------------------------------------------


def view_saved_event(
    view_id: str,
    *,
    team: str,
    person: str,
    name: str,
    params: Mapping[str, str],
    visibility: str,
    user_default: bool = False,
    project: str = "",
) -> events_pb2.Event:
    """The ``view_saved`` event the portal appends for ``person`` (``actor.on_behalf_of``)."""
    event = events_pb2.Event(
        envelope=new_envelope(
            envelope_pb2.AGGREGATE_KIND_VIEW,
            view_id,
            team=team,
            project=project,
            actor=envelope_pb2.Actor(on_behalf_of=person),
        )
    )
    saved = event.view_saved
    saved.name = name
    saved.page = PAGE
    saved.state_version = STATE_VERSION
    saved.visibility = _VISIBILITY[visibility]
    saved.user_default = user_default
    for key, value in sorted(params.items()):
        if key != VIEW_PARAM and value:
            saved.params.add(name=key, value=value)
    return event


def view_deleted_event(view: reads.SavedView, person: str) -> events_pb2.Event:
    event = events_pb2.Event(
        envelope=new_envelope(
            envelope_pb2.AGGREGATE_KIND_VIEW,
            view.view_id,
            team=view.team,
            project=view.project,
            actor=envelope_pb2.Actor(on_behalf_of=person),
        )
    )
    event.view_deleted.reason = "deleted in the portal"
    return event


def check_name(name: str) -> str:
    text = " ".join(name.split())
    if not text:
        raise ValidationError(
            "name: give the view a name (rule required)", field="name", rule="required"
        )
    if len(text) > MAX_NAME:
        raise ValidationError(
            f"name: at most {MAX_NAME} characters (rule max_length)",
            field="name",
            rule="max_length",
        )
    return text


def may_manage(
    view: reads.SavedView, user_id: str, admin: bool, team_admins: frozenset[str]
) -> bool:
    """Delete or share ``view``: its owner, an admin of its team, or a portal admin (P9)."""
    return admin or view.owner == user_id or user_id in team_admins


def columns_of(params: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(c for c in params.get(COLUMNS_PARAM, "").split(",") if c))


# -- reads and writes --------------------------------------------------------------------------


def visible_views(caller: Caller) -> tuple[reads.SavedView, ...]:
    return reads.list_views(context.client(), caller, PAGE)


def default_columns(caller: Caller) -> tuple[str, ...] | None:
    """The Runs page's columns ``caller`` saved as their default, or None (none saved)."""
    found = reads.user_default(context.client(), caller, PAGE)
    return (columns_of(found.params) or None) if found is not None else None


def _team_for(team: str | None) -> str:
    who = context.identity()
    chosen = team or (sorted(who.teams)[0] if who.teams else "")
    if not chosen or not (who.admin or chosen in who.teams):
        raise PermissionDeniedError(
            f"team: {who.user_id} is not a member of team {chosen!r} (rule team_member)",
            field="team",
            rule="team_member",
        )
    return chosen


def _wait_for(caller: Caller, view_id: str, *, gone: bool = False, timeout_s: float = 5.0) -> bool:
    """Wait until the store shows the change just appended, so the next list is fresh."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            reads.get_view(context.client(), caller, view_id)
            if not gone:
                return True
        except NotFoundError:
            if gone:
                return True
        time.sleep(0.25)
    return False


def save_view(
    name: str, params: Mapping[str, str], visibility: str, team: str | None = None
) -> str:
    """Save the page's ``params`` as a new view of the signed-in person; returns its id."""
    who = context.identity()
    view_id = new_uuid7()
    event = view_saved_event(
        view_id,
        team=_team_for(team),
        person=who.user_id,
        name=check_name(name),
        params=params,
        visibility=visibility,
    )
    actions.append([event])
    _wait_for(who.caller, view_id)
    return view_id


def save_default_columns(columns: Sequence[str]) -> None:
    """Save ``columns`` as the signed-in person's default for the Runs page (one personal view
    per person, updated in place)."""
    who = context.identity()
    current = reads.user_default(context.client(), who.caller, PAGE)
    team = current.team if current is not None else _team_for(None)
    event = view_saved_event(
        current.view_id if current is not None else new_uuid7(),
        team=team,
        person=who.user_id,
        name=DEFAULT_NAME,
        params={COLUMNS_PARAM: ",".join(dict.fromkeys(columns))},
        visibility="personal",
        user_default=True,
    )
    actions.append([event])


def _check_manage(view: reads.SavedView) -> str:
    who = context.identity()
    admins = frozenset(principals.team_admins(context.client(), view.team))
    if not may_manage(view, who.user_id, who.admin, admins):
        raise PermissionDeniedError(
            f"{who.user_id} may not change view {view.name!r} of {view.owner}: only its owner or "
            f"an admin of team {view.team!r} may (rule owner_or_team_admin)",
            field="view",
            rule="owner_or_team_admin",
        )
    return who.user_id


def delete_view(view: reads.SavedView) -> None:
    person = _check_manage(view)
    actions.append([view_deleted_event(view, person)])
    _wait_for(context.caller(), view.view_id, gone=True)


def share_view(view: reads.SavedView, grantee_kind: str, grantee_id: str) -> None:
    _check_manage(view)
    actions.share(
        [Target(TargetKind.VIEW, view.view_id, view.team)], grantee_kind, grantee_id, "view", ""
    )


# -- the page's side ---------------------------------------------------------------------------


def _select_next(view_id: str) -> None:
    """Show ``view_id`` ('' for none) in the selector on the next run (a widget's value can be
    set only before it is drawn)."""
    st.session_state[_KEY + "next"] = view_id


def opened_params(params: Mapping[str, str]) -> dict[str, str]:
    """The parameters the page should show: a ``view=<id>`` replaced by the view's own (the URL
    and the page's widgets are reset to them once), else the URL's as they are."""
    caller = context.caller()
    out = dict(params)
    view_id = out.pop(VIEW_PARAM, "")
    if view_id:
        try:
            view = reads.get_view(context.client(), caller, view_id)
        except NotFoundError:
            st.warning(NOT_VISIBLE, icon=":material/visibility_off:")
            return out
        for key in [k for k in st.session_state if str(k).startswith(WIDGET_PREFIX)]:
            del st.session_state[key]
        _select_next(view.view_id)
        st.query_params.from_dict(dict(view.params))
        st.caption(f"Saved view: {md(view.name)}")
        return dict(view.params)
    return out


def _label(view: reads.SavedView, user_id: str) -> str:
    whose = "mine" if view.owner == user_id else view.owner
    return f"{view.name} ({view.visibility}, {whose})"


def _open_chosen() -> None:
    chosen = st.session_state.get(_KEY + "chosen")
    if chosen:
        st.query_params.from_dict({VIEW_PARAM: chosen})


def panel(params: Mapping[str, str], columns: Sequence[str]) -> None:
    """The "Views" selector and "Save view" for the page's current ``params``, and "Save columns
    as my default" for the ``columns`` it shows (the URL leaves out columns equal to the
    defaults, so they are passed as shown)."""
    who = context.identity()
    views = {v.view_id: v for v in visible_views(who.caller)}
    pending = st.session_state.pop(_KEY + "next", None)
    if pending is not None:
        st.session_state[_KEY + "chosen"] = pending or None
    if st.session_state.get(_KEY + "chosen") not in views:
        st.session_state[_KEY + "chosen"] = None
    chosen_col, save_col, default_col = st.columns([4, 1, 1])
    chosen = chosen_col.selectbox(
        "Views", list(views), format_func=lambda i: _label(views[i], who.user_id),
        placeholder="Open a saved view", key=_KEY + "chosen", on_change=_open_chosen,
    )  # fmt: skip
    if chosen in views:
        _manage(views[chosen])
    with save_col.popover("Save view", icon=":material/bookmark_add:"):
        _save_form(params, who.teams)
    if default_col.button("Save columns as my default", key=_KEY + "default"):
        with actions.report_errors("saving your default columns"):
            save_default_columns(columns)
            st.toast("Saved: the Runs page opens with these columns")


def _save_form(params: Mapping[str, str], teams: frozenset[str]) -> None:
    with st.form(_KEY + "save", clear_on_submit=True, border=False):
        name = st.text_input("Name", max_chars=MAX_NAME, key=_KEY + "name")
        visibility = st.radio(
            "Who sees it", ["personal", "team"], horizontal=True, key=_KEY + "visibility",
            format_func=lambda v: "Only me" if v == "personal" else "My team",
        )  # fmt: skip
        team = st.selectbox("Team", sorted(teams), key=_KEY + "team") if len(teams) > 1 else None
        if st.form_submit_button("Save"):
            with actions.report_errors("saving the view"):
                _select_next(save_view(name, params, visibility, team))
                st.rerun()


def _manage(view: reads.SavedView) -> None:
    link = links.permalink(context.settings().portal_url, PAGE, {VIEW_PARAM: view.view_id})
    link_col, share_col, delete_col = st.columns([4, 1, 1])
    with link_col.popover("Copy link", icon=":material/link:"):
        st.caption("Opens this view for anyone who may see it.")
        st.code(link, language=None)
    with (
        share_col.popover("Share", icon=":material/share:"),
        st.form(_KEY + "share", clear_on_submit=True, border=False),
    ):
        kind = st.radio("With", ["user", "team"], horizontal=True, key=_KEY + "share_kind")
        grantee = st.text_input("User id or team", key=_KEY + "grantee")
        if st.form_submit_button("Share"):
            with actions.report_errors("sharing the view"):
                share_view(view, kind, grantee.strip())
                st.toast(f"Shared {md(view.name)} with {kind} {md(grantee.strip())}")
    if delete_col.button("Delete", key=_KEY + "delete", icon=":material/delete:"):
        with actions.report_errors("deleting the view"):
            delete_view(view)
            _select_next("")
            st.rerun()
