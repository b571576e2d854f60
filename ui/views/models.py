"""Models: registered models, their versions and alias history, how each version was built; and
the registry's actions (register a version, move or remove an alias, compare, download)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from cairn_contract.errors import CairnError
from reports.format import md, short, when
from reports.provenance_report import (
    file_stem,
    provenance_html,
    provenance_markdown,
    report_fragment,
)
from ui import context, data, discussion, links, registry_view
from ui.events import Target, TargetKind

caller = context.caller()
people = data.people()
st.title("Models")

registry_view.show_flash()
models = data.models(caller)
wanted_name = st.query_params.get("model", models[0].model_id if models else "")
registry_view.register_section(caller, models, wanted_name)
if not models:
    st.info("No registered models yet: register a version from a run's artifact above.")
    st.stop()
overview = pd.DataFrame(
    [{"model": m.name, "project": f"{m.team}/{m.project}", "owner": people.name(m.owner),
      "versions": m.versions, "production": f"v{m.production_version}" if m.production_version else "-",
      "aliases": ", ".join(m.aliases), "registered": when(m.registered_at)} for m in models]
)  # fmt: skip
st.dataframe(overview, hide_index=True)

by_id = {m.model_id: m for m in models}
model_id = st.selectbox(
    "Model", list(by_id), index=list(by_id).index(wanted_name) if wanted_name in by_id else 0,
    format_func=lambda i: f"{by_id[i].name} ({by_id[i].team}/{by_id[i].project})", key="models.model",
)  # fmt: skip
model = by_id[model_id]
versions = data.model_versions(caller, model_id)
numbers = [v.version for v in versions]
wanted_version = st.query_params.get(
    "version", str(model.production_version or (numbers[0] if numbers else 0))
)
version = st.radio(
    "Version", numbers, horizontal=True, key="models.version",
    index=numbers.index(int(wanted_version)) if wanted_version.isdigit() and int(wanted_version) in numbers else 0,
    format_func=lambda n: f"v{n}" + next((f" · {v.stage}" for v in versions if v.version == n and v.stage), ""),
)  # fmt: skip
st.query_params.update({"model": model_id, "version": str(version)})
if model.description:
    st.caption(md(model.description))

st.dataframe(
    pd.DataFrame(
        [{"version": f"v{v.version}", "stage": v.stage, "aliases": ", ".join(v.aliases), "run": short(v.run_id, 12),
          "artifact": v.artifact_name, "sha256": short(v.artifact_sha256, 12), "description": v.description,
          "registered": when(v.created_at), "by": people.name(v.created_by)} for v in versions]
    ),
    hide_index=True,
)  # fmt: skip

row = next((v for v in versions if v.version == version), None)
if row is not None:
    registry_view.download_button(model, row)
aliases_tab, history_tab, compare_tab = st.tabs(["Aliases", "Alias history", "Compare versions"])
with aliases_tab:
    registry_view.alias_section(model, versions, int(version))
with history_tab:
    registry_view.alias_history(caller, model, people)
with compare_tab:
    registry_view.compare_section(caller, versions)

try:
    report = data.model_provenance(caller, model_id, int(version))
except CairnError as exc:
    st.error(exc.message)
    st.stop()

st.header(f"How {md(model.name)} v{version} was built", divider="gray")
markdown = provenance_markdown(report, people.name, reader=caller.user_id)
md_col, html_col, lineage_col, run_col = st.columns(4)
md_col.download_button(
    "Download Markdown", markdown, file_name=f"{file_stem(report)}.md", mime="text/markdown",
    icon=":material/download:", key="models.download.md",
)  # fmt: skip
html_col.download_button(
    "Download HTML", provenance_html(markdown, f"{model.name} v{version}: provenance"),
    file_name=f"{file_stem(report)}.html", mime="text/html", icon=":material/download:",
    key="models.download.html",
)  # fmt: skip
lineage_col.page_link(
    links.PAGES["lineage"],
    label="Lineage graph",
    icon=":material/account_tree:",
    query_params={"node": f"model_version:{model_id}:{version}", "dir": "upstream"},
)
if report.run is not None:
    run_col.page_link(links.PAGES["run"], label="Building run", icon=":material/monitoring:",
                      query_params=links.run_params(report.run.run_id))  # fmt: skip

with st.container(border=True, height=700):
    st.html(report_fragment(markdown))

discussion.show(
    Target(TargetKind.MODEL, model_id, model.team, model.project),
    key=f"models.{model_id}",
    title=f"Discussion of {model.name}",
)
