"""The model registry's widgets, shared by the Models and Run pages: register a run's artifact as
a version, move or remove an alias with a reason, the alias history, compare two versions,
download a version, and a run's model versions (built and used).

Writes go through :mod:`ui.model_actions` (ingest, as the signed-in person). User text (model
names, descriptions, reasons, aliases) is shown in data tables or escaped with :func:`md`, never
as markup. A successful action leaves a note in the session and reruns the page, so what is drawn
next is the new state with the note on top.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st

from cairn_contract.errors import CairnError
from query.access import Caller
from query.models import ModelSummary, VersionRow
from query.run_details import ArtifactRecord
from reports.format import People, md, short, when
from ui import actions, context, data, links, model_actions
from ui.compare_view import labels, params_diff
from ui.downloads import model_download
from ui.model_actions import RunArtifact

FLASH_KEY = "cairn.registry_flash"


def _done(message: str, **params: str) -> None:
    """After a change: drop the cached registry reads, remember the note, rerun the page."""
    data.models.clear()
    data.model_versions.clear()
    data.model_provenance.clear()
    data.model_alias_history.clear()
    data.run_model_versions.clear()
    st.session_state[FLASH_KEY] = message
    if params:
        st.query_params.update(params)
        for widget in ("models.model", "models.version"):  # re-read from the URL
            st.session_state.pop(widget, None)
    st.rerun()


def show_flash() -> None:
    """The note the last registry action left (once). Always one container, note or not, so
    the elements after it keep their place (an open form stays open across the rerun)."""
    message = st.session_state.pop(FLASH_KEY, None)
    slot = st.container()
    if message:
        slot.success(message)


def may_change(team: str) -> bool:
    """Whether the signed-in person may change a model of ``team`` (docs/permissions.md, P6)."""
    who = context.identity()
    return who.admin or team in who.teams


def register_form(
    key: str,
    source: RunArtifact,
    models: tuple[ModelSummary, ...],
    default_name: str = "",
    *,
    open_version: bool = False,
) -> None:
    """A form registering ``source`` as the next version of a model (new or existing); with
    ``open_version`` the page then shows the new version (the Models page's URL)."""
    with st.form(f"{key}.register", clear_on_submit=False, border=False):
        name = st.text_input(
            "Model name",
            value=default_name,
            key=f"{key}.name",
            help="An existing model gets its next version; a new name creates the model in "
            f"{source.team}/{source.project}.",
        )
        description = st.text_area("Version description", key=f"{key}.description", height=80)
        submitted = st.form_submit_button("Register version", type="primary")
    if submitted:
        with actions.report_errors("registering") as outcome:
            number = model_actions.register_version(source, name, description, models)
        if not outcome.failed:
            model = name.strip()
            where = {"model": model, "version": str(number)} if open_version else {}
            _done(f"Registered {model} v{number}.", **where)


def register_section(caller: Caller, models: tuple[ModelSummary, ...], model_name: str) -> None:
    """Models page: register an artifact of any visible run (by run id) as a version."""
    with st.expander("Register a version from a run's artifact", icon=":material/add_box:"):
        run_id = st.text_input("Run id", key="models.register.run").strip()
        if not run_id:
            st.caption("Paste the id of the run that logged the model file (Run page, header).")
            return
        found = data.search(
            caller, f"run_id = {data.quote(run_id)}", "created desc",
            ("run_id", "name", "team", "project"), 1,
        )  # fmt: skip
        if found.empty:
            st.error(f"No run {run_id} (or it is not visible to you).")
            return
        run = found.iloc[0]
        artifacts = data.artifacts(caller, run_id)
        if not artifacts:
            st.caption("This run logged no artifacts.")
            return
        by_name = {a.name: a for a in artifacts}
        picked = st.selectbox(
            "Artifact", list(by_name), key="models.register.artifact",
            format_func=lambda n: f"{n} ({by_name[n].kind})",
        )  # fmt: skip
        source = RunArtifact(run_id, str(run["team"]), str(run["project"]), by_name[picked])
        register_form("models.register", source, models, model_name, open_version=True)


def register_popover(
    caller: Caller, run_id: str, team: str, project: str, artifact: ArtifactRecord
) -> None:
    """Run page, Artifacts tab: "Register as model" next to an artifact."""
    if not may_change(team):
        return
    with st.popover("Register as model", icon=":material/deployed_code:"):
        source = RunArtifact(run_id, team, project, artifact)
        key = f"run.register.{artifact.sha256[:16]}.{artifact.name}"
        register_form(key, source, data.models(caller))


def alias_section(model: ModelSummary, versions: Sequence[VersionRow], version: int) -> None:
    """Move an alias to a version, or remove one; a reason is required for both."""
    if not may_change(model.team):
        st.caption(f"Only members of team {md(model.team)} can move this model's aliases.")
        return
    numbers = [v.version for v in versions]
    move_col, remove_col = st.columns(2)
    with move_col.form("models.alias.move", border=True):
        st.markdown("**Move an alias**")
        target = st.selectbox(
            "To version", numbers, index=numbers.index(version) if version in numbers else 0,
            format_func=lambda n: f"v{n}", key="models.alias.version",
        )  # fmt: skip
        alias = st.text_input("Alias", placeholder="production", key="models.alias.name")
        reason = st.text_input("Reason", key="models.alias.reason")
        moved = st.form_submit_button("Move alias", type="primary")
    if moved:
        with actions.report_errors("moving the alias") as outcome:
            model_actions.set_alias(model, int(target), alias, reason)
        if not outcome.failed:
            _done(f"{model.name}@{alias.strip()} now points to v{target}.", version=str(target))
    current = sorted({a for v in versions for a in v.aliases})
    with remove_col.form("models.alias.remove", border=True):
        st.markdown("**Remove an alias**")
        gone = st.selectbox("Alias", current, index=None, key="models.unalias.name")
        why = st.text_input("Reason", key="models.unalias.reason")
        removed = st.form_submit_button("Remove alias", disabled=not current)
    if removed:
        with actions.report_errors("removing the alias") as outcome:
            model_actions.remove_alias(model, gone or "", why)
        if not outcome.failed:
            _done(f"Removed {model.name}@{gone}.")


def alias_history(caller: Caller, model: ModelSummary, people: People) -> None:
    """Every alias move and stage change, newest first, with who, when and why."""
    moves = data.model_alias_history(caller, model.model_id)
    if not moves:
        st.caption("No alias or stage has been set yet.")
        return
    rows = [
        {"when": when(m.occurred_at), "kind": m.kind, "name": m.name,
         "version": "removed" if m.removed else f"v{m.version}", "by": people.name(m.actor),
         "reason": m.reason}
        for m in reversed(moves)
    ]  # fmt: skip
    st.dataframe(pd.DataFrame(rows), hide_index=True)


def download_button(model: ModelSummary, row: VersionRow) -> None:
    """Download the version's artifact (a file, or a directory as a zip), sha256-checked."""
    try:
        content, file_name, mime = model_download(
            row.artifact_uri, row.artifact_sha256, row.artifact_name or model.name,
            context.settings().artifact_store,
        )  # fmt: skip
    except CairnError as exc:
        st.caption(f"Download unavailable: {exc.message}")
        return
    st.download_button(
        f"Download v{row.version}", content, file_name=file_name, mime=mime,
        icon=":material/download:", key=f"models.download.v{row.version}",
    )  # fmt: skip


def compare_section(caller: Caller, versions: Sequence[VersionRow]) -> None:
    """Two versions side by side: what they are, and how their building runs differ (params,
    metrics, data, code, environment)."""
    if len(versions) < 2:
        st.caption("Only one version: nothing to compare yet.")
        return
    numbers = [v.version for v in versions]
    a_col, b_col = st.columns(2)
    a = a_col.selectbox("Version A", numbers, index=1, format_func=lambda n: f"v{n}",
                        key="models.compare.a")  # fmt: skip
    b = b_col.selectbox("Version B", numbers, index=0, format_func=lambda n: f"v{n}",
                        key="models.compare.b")  # fmt: skip
    va, vb = (next(v for v in versions if v.version == n) for n in (a, b))
    facts = pd.DataFrame(
        [{"": label, f"v{a}": left, f"v{b}": right} for label, left, right in (
            ("run", va.run_id, vb.run_id), ("artifact", va.artifact_name, vb.artifact_name),
            ("sha256", va.artifact_sha256, vb.artifact_sha256), ("stage", va.stage, vb.stage),
            ("aliases", ", ".join(va.aliases), ", ".join(vb.aliases)),
            ("registered", when(va.created_at), when(vb.created_at)))]
    )  # fmt: skip
    st.dataframe(facts, hide_index=True)
    if a == b:
        return
    if va.artifact_sha256 == vb.artifact_sha256:
        st.info("Both versions hold the same bytes (same sha256).")
    if va.run_id == vb.run_id:
        st.caption("Both versions were built by the same run: params, data, code and environment are the same.")  # fmt: skip
        return
    try:
        _run_differences(caller, va.run_id, vb.run_id, f"v{a}", f"v{b}")
    except CairnError as exc:
        st.caption(f"The building runs cannot be compared: {exc.message}")
    st.page_link(links.PAGES["compare"], label="Compare the building runs in full",
                 icon=":material/compare:", query_params=links.compare_params((va.run_id, vb.run_id)))  # fmt: skip


def _run_differences(caller: Caller, run_a: str, run_b: str, label_a: str, label_b: str) -> None:
    comparison = data.comparison(caller, (run_a, run_b))
    by_run = {run_a: label_a, run_b: label_b}
    differing = params_diff(comparison, {**labels(comparison), **by_run})
    st.markdown(f"**Params**: {len(differing)} differ, {len(comparison.params_common)} the same")
    if not differing.empty:
        st.dataframe(differing, hide_index=True)
    at = {run_id: index for index, run_id in enumerate(comparison.run_ids)}
    metrics = pd.DataFrame(
        [{"metric": m.key, label_a: m.last[at[run_a]], label_b: m.last[at[run_b]]}
         for m in comparison.metrics]
    )  # fmt: skip
    if not metrics.empty:
        st.markdown("**Metrics** (last values)")
        st.dataframe(metrics, hide_index=True)
    code = data.code_diff(caller, run_a, run_b)
    env = data.environment_diff(caller, run_a, run_b)
    datasets = data.datasets_diff(caller, run_a, run_b).datasets
    changed_data = len(datasets.changed) + len(datasets.added) + len(datasets.removed)
    packages = env.packages
    st.dataframe(
        pd.DataFrame([
            {"aspect": "data", "difference": f"{changed_data} datasets differ" if changed_data else "same data (digests)"},
            {"aspect": "code", "difference": "same code" if code.identical else (
                "same commit, other uncommitted changes" if code.same_commit else
                f"commit {short(code.code_a.commit if code.code_a else '', 10)} → {short(code.code_b.commit if code.code_b else '', 10)}")},
            {"aspect": "environment", "difference": "same environment" if env.identical else
                f"{len(packages.changed)} packages changed, {len(packages.added)} added, {len(packages.removed)} removed, {len(env.fields)} platform fields differ"},
        ]),
        hide_index=True,
    )  # fmt: skip


def run_models(caller: Caller, run_id: str, people: People) -> None:
    """Run page: the model versions this run built and the ones it used."""
    found = data.run_model_versions(caller, run_id)
    for title, rows, empty in (
        ("Built by this run", found.built, "This run built no registered model version."),
        ("Used by this run", found.used, "This run used no registered model version."),
    ):
        st.subheader(title)
        if not rows:
            st.caption(empty)
            continue
        st.dataframe(
            pd.DataFrame([
                {"model": v.model_id, "version": f"v{v.version}", "aliases": ", ".join(v.aliases),
                 "stage": v.stage, "artifact": v.artifact_name, "registered": when(v.created_at),
                 "by": people.name(v.created_by)} for v in rows
            ]),
            hide_index=True,
        )  # fmt: skip
        for v in rows:
            st.page_link(links.PAGES["models"], label=f"{md(v.model_id)} v{v.version}",
                         icon=":material/deployed_code:",
                         query_params={"model": v.model_id, "version": str(v.version)})  # fmt: skip
