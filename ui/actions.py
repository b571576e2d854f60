"""What people can do in the portal, as events appended through ingest on their behalf.

Each action checks that the signed-in person may act in the target's team (a member, or a
portal admin), builds the events (:mod:`ui.events`), numbers run events after the run's own
(:func:`ui.events.assign_run_sequences`) and appends them (:func:`ui.context.sink`). Comment
actions also return the optimistic copy the author sees until the projection has it
(:mod:`ui.threads`), and remember it in the session.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import streamlit as st

from cairn_contract.errors import PermissionDeniedError, ValidationError
from cairn_contract.ids import new_uuid7
from cairn_contract.v1 import automations_pb2, events_pb2
from domain.automations import inbox_read_event, rule_event
from query import principals
from query.access import Caller
from query.collaboration import Comment
from ui import context, data, events, threads
from ui.events import Anchor, Target
from ui.ingest_writer import WriteResult
from ui.users import load_users

PENDING_KEY = "cairn.pending_comments"
MAX_BODY = 65_536


def _check_team(team: str) -> str:
    who = context.identity()
    if not (who.admin or team in who.teams):
        raise PermissionDeniedError(
            f"{who.user_id} is not a member of team {team!r}", field="team", rule="team_member"
        )
    return who.user_id


def _check_body(body: str) -> str:
    text = body.strip()
    if not text:
        raise ValidationError("write something first", field="body", rule="required")
    if len(text) > MAX_BODY:
        raise ValidationError(f"at most {MAX_BODY} characters", field="body", rule="max_length")
    return text


def append(batch: Sequence[events_pb2.Event]) -> WriteResult:
    """Sequence the run events of ``batch`` after their runs' own and append it."""
    unsequenced = events.unsequenced_runs(batch)
    highest = data.run_sequences(context.caller(), unsequenced) if unsequenced else {}
    events.assign_run_sequences(batch, lambda run_id: highest[run_id])
    return context.sink().append(batch)


def pending(target: Target) -> list[Comment]:
    """The author's optimistic comment changes on ``target`` not yet seen projected."""
    store: dict[Target, list[Comment]] = context.state(PENDING_KEY, {})
    return store.setdefault(target, [])


def set_pending(target: Target, waiting: list[Comment]) -> None:
    store: dict[Target, list[Comment]] = context.state(PENDING_KEY, {})
    store[target] = waiting


def _remember(target: Target, change: Comment) -> Comment:
    waiting = [c for c in pending(target) if c.comment_id != change.comment_id]
    set_pending(target, [*waiting, change])
    return change


def add_comment(
    target: Target, body: str, *, anchor: Anchor | None = None, reply_to: str = ""
) -> Comment:
    person = _check_team(target.team)
    event = events.comment_added(
        target, person, _check_body(body), anchor=anchor, reply_to=reply_to
    )
    append([event])
    return _remember(target, threads.optimistic(event, person))


def edit_comment(target: Target, comment: Comment, body: str) -> Comment:
    person = _check_team(target.team)
    if comment.author != person:
        raise PermissionDeniedError("only the author can edit a comment", rule="author_only")
    text = _check_body(body)
    append([events.comment_edited(target, person, comment.comment_id, text)])
    return _remember(target, threads.edited(comment, text, datetime.now(UTC)))


def delete_comment(target: Target, comment: Comment, reason: str = "") -> Comment:
    person = _check_team(target.team)
    if comment.author != person and not context.identity().admin:
        raise PermissionDeniedError("only the author or an admin can delete a comment")
    append([events.comment_deleted(target, person, comment.comment_id, reason.strip())])
    return _remember(target, threads.deleted(comment, person, datetime.now(UTC)))


def record_decision(target: Target, title: str, body: str, run_ids: Sequence[str]) -> None:
    person = _check_team(target.team)
    if not title.strip():
        raise ValidationError("a decision needs a title", field="title", rule="required")
    append([events.decision_recorded(target, person, title.strip(), body.strip(), run_ids)])


def _check_handover(target: Target, owner: str) -> None:
    """Only the owner (their own things), a team admin of the target's team or a portal admin
    may hand something over (docs/permissions.md, P4)."""
    who = context.identity()
    if who.admin or owner == who.user_id:
        return
    if who.user_id in principals.team_admins(context.client(), target.team):
        return
    raise PermissionDeniedError(
        f"{who.user_id} may not hand over {target.kind} {target.id} owned by {owner}: "
        f"only its owner or an admin of team {target.team!r} may (rule owner_or_team_admin)",
        field="targets",
        rule="owner_or_team_admin",
    )


def _check_grantee(grantee_kind: str, grantee_id: str) -> None:
    """A share names a team or a person that exists (docs/permissions.md, P5)."""
    client = context.client()
    if grantee_kind == "team":
        exists = principals.team_exists(client, grantee_id)
    else:
        users_file = context.settings().users_file
        local = load_users(users_file) if users_file else {}
        exists = grantee_id in local or principals.user_exists(client, grantee_id)
    if not exists:
        raise ValidationError(
            f"grantee: there is no {grantee_kind} {grantee_id!r} (rule grantee_exists)",
            field="grantee",
            rule="grantee_exists",
        )


def transfer(targets: Sequence[tuple[Target, str]], to_user: str, reason: str) -> int:
    """Give every (target, current owner) to ``to_user``; returns how many were transferred."""
    if not to_user:
        raise ValidationError("choose who receives ownership", field="to_user", rule="required")
    if not reason.strip():
        raise ValidationError("say why (it stays in the history)", field="reason", rule="required")
    for target, owner in targets:
        _check_team(target.team)
        _check_handover(target, owner)
    batch = [
        events.ownership_transferred(target, _check_team(target.team), owner, to_user, reason)
        for target, owner in targets
        if owner != to_user
    ]
    if batch:
        append(batch)
    return len(batch)


def edit_run(target: Target, edits: Sequence[events.RunEdit]) -> int:
    """Rename, describe, tag, untag, archive or restore run ``target`` (docs/permissions.md, P8):
    a member of the run's team or a portal admin, one event per edit, as the signed-in person.
    Returns how many events were appended."""
    person = _check_team(target.team)
    for edit in edits:
        if edit.kind == "run_renamed" and not edit.text.strip():
            raise ValidationError("a run needs a name", field="name", rule="required")
        if any(not key.strip() for key, _ in edit.tags) or any(not k.strip() for k in edit.keys):
            raise ValidationError("a tag needs a key", field="tags", rule="required")
    batch = [events.run_edited(target, person, edit) for edit in edits]
    if batch:
        append(batch)
    return len(batch)


def set_notes(team: str, project: str, body: str) -> None:
    person = _check_team(team)
    append([events.project_notes_set(team, project, person, body.strip())])


def share(
    targets: Sequence[Target], grantee_kind: str, grantee_id: str, access: str, note: str
) -> int:
    if not grantee_id.strip():
        raise ValidationError("choose whom to share with", field="grantee", rule="required")
    _check_grantee(grantee_kind, grantee_id.strip())
    batch = [
        events.resource_shared(
            t, _check_team(t.team), grantee_kind, grantee_id.strip(), access, note
        )
        for t in targets
    ]
    if batch:
        append(batch)
    return len(batch)


def wait_for_shares(
    caller: Caller,
    targets: Sequence[Target],
    grantee_kind: str,
    grantee_id: str,
    *,
    timeout_s: float = 5.0,
) -> bool:
    """Wait until the shares just made are in the store, so the list shown next is fresh; False
    if they are not there within ``timeout_s`` (the list then catches up on the next view)."""
    wanted = {t.id for t in targets}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = {
            s.target_id
            for s in data.shares(caller)
            if s.grantee_kind == grantee_kind and s.grantee_id == grantee_id
        }
        if wanted <= found:
            return True
        time.sleep(0.25)
    return False


def unshare(target: Target, grantee_kind: str, grantee_id: str) -> None:
    person = _check_team(target.team)
    append([events.resource_unshared(target, person, grantee_kind, grantee_id)])


def report_errors(action_name: str) -> _ErrorReporter:
    """``with report_errors("posting"):`` shows refused actions as an error, not a traceback."""
    return _ErrorReporter(action_name)


class _ErrorReporter:
    def __init__(self, action_name: str) -> None:
        self.action_name = action_name
        self.failed = False

    def __enter__(self) -> _ErrorReporter:
        return self

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> bool:
        from cairn_contract.errors import CairnError

        if isinstance(exc, CairnError):
            st.error(f"{self.action_name.capitalize()} failed: {exc.message}")
            self.failed = True
            return True
        return False


def _rule_event(kind: str, team: str, name: str, **extra: Any) -> events_pb2.Event:
    person = _check_team(team)
    event = rule_event(
        kind, team=team, name=name, now_ns=time.time_ns(), event_id=new_uuid7(), **extra
    )
    event.envelope.actor.on_behalf_of = person
    return event


def create_rule(team: str, name: str, definition: automations_pb2.RuleDefinition) -> None:
    """A new automation rule of ``team`` (docs/automations.md); ingest validates it."""
    append([_rule_event("rule_created", team, name.strip(), definition=definition)])


def change_rule(team: str, name: str, definition: automations_pb2.RuleDefinition) -> None:
    append([_rule_event("rule_changed", team, name, definition=definition)])


def set_rule_paused(team: str, name: str, paused: bool) -> None:
    append([_rule_event("rule_paused" if paused else "rule_resumed", team, name)])


def delete_rule(team: str, name: str) -> None:
    append([_rule_event("rule_deleted", team, name)])


def mark_read(item_ids: Sequence[str]) -> None:
    """Marks the signed-in person's inbox items read (an event in one of their teams)."""
    who = context.identity()
    if not item_ids:
        return
    team = sorted(who.teams)[0] if who.teams else ""
    if not team:
        raise PermissionDeniedError(
            f"{who.user_id} is in no team", field="team", rule="team_member"
        )
    event = inbox_read_event(
        team=team,
        user_id=who.user_id,
        item_ids=list(item_ids),
        now_ns=time.time_ns(),
        event_id=new_uuid7(),
    )
    event.envelope.actor.on_behalf_of = who.user_id
    append([event])
