"""Automations: a team's rules (create, edit, pause, resume, delete) and their deliveries.

Every change is a rule event appended through ingest as the signed-in person; ingest validates
it (a bad trigger, condition or URL is refused with the field and rule). docs/automations.md.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from cairn_contract.v1 import automations_pb2
from domain.automations import TRIGGERS
from reports.format import when
from ui import actions, context, data

caller = context.caller()
me = context.identity()
st.title("Automations")

teams = sorted(me.teams)
if not teams:
    st.info("You are not a member of any team.")
    st.stop()
wanted = st.query_params.get("team", teams[0])
team = st.selectbox(
    "Team", teams, index=teams.index(wanted) if wanted in teams else 0, key="automations.team"
)
st.query_params["team"] = team

rules = data.rules(caller, team)
st.header("Rules", divider="gray")
if rules:
    st.dataframe(
        pd.DataFrame(
            {
                "name": [r.name for r in rules],
                "trigger": [r.trigger for r in rules],
                "condition": [r.condition for r in rules],
                "project": [r.project or "*" for r in rules],
                "actions": [", ".join(r.targets) for r in rules],
                "state": ["paused" if r.paused else "active" for r in rules],
                "changed": [when(r.updated_at) for r in rules],
            }
        ),
        hide_index=True,
        width="stretch",
    )
else:
    st.caption("No rules yet.")


def action_kind(prefix: str) -> str:
    """The kind of action, chosen outside the form: a form reruns only on submit, so the target
    field's label and the signing secret must follow this choice before the form is filled."""
    return str(
        st.radio("Action", ["webhook", "email", "inbox"], horizontal=True, key=f"{prefix}.kind")
    )


def definition_form(
    prefix: str, current: dict[str, str], kind: str
) -> automations_pb2.RuleDefinition:
    trigger = st.selectbox(
        "Trigger",
        list(TRIGGERS),
        index=list(TRIGGERS).index(current.get("trigger", "run.failed")),
        format_func=lambda t: f"{t} — {TRIGGERS[t]}",
        key=f"{prefix}.trigger",
    )
    condition = st.text_input(
        "Condition (filter language, optional)",
        value=current.get("condition", ""),
        placeholder="metrics.loss > 10 or isnan(metrics.loss)",
        key=f"{prefix}.condition",
    )
    project = st.text_input(
        "Only project (optional)", value=current.get("project", ""), key=f"{prefix}.project"
    )
    minutes = st.number_input(
        "run.stalled: minutes of silence", min_value=0.0, value=0.0, key=f"{prefix}.minutes"
    )
    where = st.text_input(
        {"webhook": "URL", "email": "Email address", "inbox": "User"}[kind], key=f"{prefix}.target"
    )
    definition = automations_pb2.RuleDefinition(
        trigger=trigger,
        condition=condition.strip(),
        project=project.strip(),
        stalled_after_s=float(minutes) * 60.0,
    )
    action = definition.actions.add()
    if kind == "webhook":
        secret = st.text_input("Signing secret", type="password", key=f"{prefix}.secret")
        action.webhook.url = where.strip()
        action.webhook.secret = secret
    elif kind == "email":
        action.email.address = where.strip()
    else:
        action.inbox.user_id = where.strip()
    return definition


st.header("New rule", divider="gray")
new_kind = action_kind("automations.new")
with st.form("automations.new"):
    name = st.text_input("Name (lowercase letters, digits, - and _)", key="automations.new.name")
    new_definition = definition_form("automations.new", {}, new_kind)
    if st.form_submit_button("Create rule"):
        with actions.report_errors("creating the rule") as outcome:
            actions.create_rule(team, name, new_definition)
        if not outcome.failed:
            st.success(f"Rule {name!r} created")

if rules:
    st.header("Change a rule", divider="gray")
    names = [r.name for r in rules]
    chosen = st.selectbox("Rule", names, key="automations.chosen")
    rule = next(r for r in rules if r.name == chosen)
    pause_col, delete_col = st.columns(2)
    with pause_col:
        label = "Resume" if rule.paused else "Pause"
        if st.button(label, key="automations.pause"):
            with actions.report_errors(label.lower()) as outcome:
                actions.set_rule_paused(team, rule.name, not rule.paused)
            if not outcome.failed:
                st.success(f"Rule {rule.name!r} {'resumed' if rule.paused else 'paused'}")
    with delete_col:
        if st.button("Delete", key="automations.delete"):
            with actions.report_errors("deleting") as outcome:
                actions.delete_rule(team, rule.name)
            if not outcome.failed:
                st.success(f"Rule {rule.name!r} deleted")
    edit_kind = action_kind("automations.edit")
    with st.form("automations.edit"):
        st.caption(
            "Replaces the rule's trigger, condition and action (a paused rule stays paused)."
        )
        changed = definition_form(
            "automations.edit",
            {"trigger": rule.trigger, "condition": rule.condition, "project": rule.project},
            edit_kind,
        )
        if st.form_submit_button("Save changes"):
            with actions.report_errors("saving") as outcome:
                actions.change_rule(team, rule.name, changed)
            if not outcome.failed:
                st.success(f"Rule {rule.name!r} changed")

st.header("Deliveries", divider="gray")
only = st.selectbox("Of rule", ["(all)", *[r.name for r in rules]], key="automations.of")
found = data.deliveries(caller, team, None if only == "(all)" else only)
if found:
    st.dataframe(
        pd.DataFrame(
            {
                "rule": [d.rule for d in found],
                "delivery_id": [d.delivery_id for d in found],
                "status": [d.status for d in found],
                "attempts": [d.attempts for d in found],
                "action": [f"{d.action_kind} {d.target}" for d in found],
                "last error": [d.last_error for d in found],
                "text": [d.text for d in found],
                "last attempt": [when(d.last_attempt_at) for d in found],
            }
        ),
        hide_index=True,
        width="stretch",
    )
else:
    st.caption("No deliveries yet.")
