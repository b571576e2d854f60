"""The portal's reads: ``query/`` functions called as the signed-in caller, some cached briefly.

Caching is per caller and arguments (Streamlit's cache), with short lifetimes: long enough that
clicking around a page does not re-run expensive queries (a 10,000-run search, a 50-run metric
overlay), short enough that what others do shows up within seconds. Comments are never cached:
a thread must show what was just said.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Literal

import pandas as pd
import streamlit as st

from cairn_contract.errors import CairnError
from cairn_contract.reproduction import ReproductionReport, RunRecord
from query import (
    automations,
    branches,
    collaboration,
    compare,
    diff_matrix,
    diffs,
    lineage,
    model_registry,
    progress,
    provenance,
    reproduction,
    run_details,
    run_search,
    runs,
    series,
    sharing,
)
from query import models as model_reads
from query import people as people_reads
from query import projects as project_reads
from query.access import Caller
from query.collaboration import Comment
from reports.format import People, Person
from ui import context, live
from ui.users import load_users


@st.cache_data(ttl=60, show_spinner=False)
def _people(caller: Caller) -> dict[str, Person]:
    found: dict[str, Person] = {}
    for member in people_reads.members(context.client(), caller):
        current = found.get(member.user_id)
        active = member.active or bool(current and current.active)
        found[member.user_id] = Person(
            member.user_id, member.display_name or member.user_id, active
        )
    users_file = context.settings().users_file
    for user in load_users(users_file).values() if users_file else ():
        found.setdefault(user.user_id, Person(user.user_id, user.display_name, True))
    return found


def members(caller: Caller) -> tuple[people_reads.Member, ...]:
    return people_reads.members(context.client(), caller)


def people() -> People:
    return People(_people(context.caller()))


@st.cache_data(ttl=10, show_spinner=False)
def projects(caller: Caller) -> tuple[project_reads.ProjectActivity, ...]:
    week_ago = datetime.now(UTC) - timedelta(days=7)
    return project_reads.projects_overview(context.client(), caller, since=week_ago)


@st.cache_data(ttl=60, show_spinner=False)
def known_keys(
    caller: Caller, namespace: str, project: tuple[str, str] | None = None
) -> tuple[str, ...]:
    return runs.known_keys(context.client(), caller, namespace, project=project)


@st.cache_data(ttl=5, show_spinner=False)
def search(
    caller: Caller,
    filter: str | None,
    order_by: str,
    columns: tuple[str, ...],
    limit: int,
) -> pd.DataFrame:
    return runs.search_runs(
        context.client(), caller, filter, order_by, limit=limit, columns=list(columns)
    )


@st.cache_data(ttl=5, show_spinner=False)
def find_runs(
    caller: Caller,
    text: str,
    limit: int,
    teams: frozenset[str] | None = None,
    project: tuple[str, str] | None = None,
) -> run_search.RunMatches:
    """A run picker's matches (every visible run is searched; ``limit`` is what is shown)."""
    return run_search.find_runs(
        context.client(), caller, text, limit=limit, teams=teams, project=project
    )


@st.cache_data(ttl=5, show_spinner=False)
def count(caller: Caller, filter: str | None) -> int:
    return runs.count_runs(context.client(), caller, filter)


@st.cache_data(ttl=15, show_spinner=False)
def comparison(
    caller: Caller, run_ids: tuple[str, ...], partial: bool = False
) -> compare.RunComparison:
    """``partial``: the visible runs of a link, the others only counted (the Compare page)."""
    return compare.compare_runs(context.client(), caller, list(run_ids), partial=partial)


@st.cache_data(ttl=30, show_spinner=False)
def runs_diff_matrix(
    caller: Caller, run_ids: tuple[str, ...], baseline: str | None
) -> diff_matrix.DiffMatrix:
    return diff_matrix.diff_matrix(context.client(), caller, list(run_ids), baseline=baseline)


@st.cache_data(ttl=15, show_spinner=False)
def metric_keys(caller: Caller, run_ids: tuple[str, ...]) -> tuple[str, ...]:
    return series.metric_keys_of_runs(context.client(), caller, run_ids)


@st.cache_data(ttl=15, show_spinner=False)
def comparison_with_series(
    caller: Caller,
    run_ids: tuple[str, ...],
    keys: tuple[str, ...],
    max_points: int,
    x: Literal["step", "time"],
    smoothing: float | None,
) -> tuple[compare.RunComparison, pd.DataFrame]:
    """The comparison (of the visible runs: ``partial``) and the metric overlay together,
    fetched concurrently (the slowest of the two, not their sum: what makes a 50-run comparison
    open fast)."""
    client = context.client()
    with ThreadPoolExecutor(max_workers=2) as pool:
        found = pool.submit(compare.compare_runs, client, caller, list(run_ids), partial=True)
        points = pool.submit(
            series.metric_series,
            client,
            caller,
            list(run_ids),
            list(keys),
            max_points,
            x,
            smoothing,
        )
        return found.result(), points.result()


@st.cache_data(ttl=15, show_spinner=False)
def metric_series(
    caller: Caller,
    run_ids: tuple[str, ...],
    keys: tuple[str, ...],
    max_points: int,
    x: Literal["step", "time"],
    smoothing: float | None,
) -> pd.DataFrame:
    return series.metric_series(
        context.client(), caller, list(run_ids), list(keys), max_points, x, smoothing
    )


# Reads for live fragments (ui/live.py): never older than live.FRESH_TTL_S, so a tick draws what
# the previous tick could not, while viewers of the same running run still share one query.


def run_statuses(caller: Caller, run_ids: Sequence[str]) -> dict[str, str]:
    """Each visible run's status, never cached: what decides whether a page refreshes live."""
    if not run_ids:
        return {}
    quoted = ", ".join(quote(run_id) for run_id in run_ids)
    found = runs.search_runs(
        context.client(),
        caller,
        f"run_id in ({quoted})",
        "created desc",
        limit=min(len(run_ids), runs.MAX_LIMIT),
        columns=["run_id", "status"],
    )
    return {str(row.run_id): str(row.status) for row in found.itertuples()}


@st.cache_data(ttl=live.FRESH_TTL_S, show_spinner=False)
def live_comparison(caller: Caller, run_ids: tuple[str, ...]) -> compare.RunComparison:
    return compare.compare_runs(context.client(), caller, list(run_ids))


@st.cache_data(ttl=live.FRESH_TTL_S, show_spinner=False)
def live_progress(caller: Caller, run_ids: tuple[str, ...]) -> progress.RunProgress:
    """Status, times and metric summaries only: what a live tick redraws, in two queries."""
    return progress.run_progress(context.client(), caller, list(run_ids))


@st.cache_data(ttl=live.FRESH_TTL_S, show_spinner=False)
def live_metric_series(
    caller: Caller,
    run_ids: tuple[str, ...],
    keys: tuple[str, ...],
    max_points: int,
    x: Literal["step", "time"],
    smoothing: float | None,
) -> pd.DataFrame:
    return series.metric_series(
        context.client(), caller, list(run_ids), list(keys), max_points, x, smoothing
    )


@st.cache_data(ttl=30, show_spinner=False)
def system_metrics(caller: Caller, run_id: str) -> pd.DataFrame:
    return series.system_metric_series(context.client(), caller, run_id)


@st.cache_data(ttl=30, show_spinner=False)
def artifacts(caller: Caller, run_id: str) -> tuple[run_details.ArtifactRecord, ...]:
    return run_details.run_artifacts(context.client(), caller, run_id)


@st.cache_data(ttl=30, show_spinner=False)
def code_diff(caller: Caller, run_a: str, run_b: str) -> diffs.CodeDiff:
    return diffs.diff_code(context.client(), caller, run_a, run_b)


@st.cache_data(ttl=30, show_spinner=False)
def environment_diff(caller: Caller, run_a: str, run_b: str) -> diffs.EnvironmentDiff:
    return diffs.diff_environment(context.client(), caller, run_a, run_b)


@st.cache_data(ttl=30, show_spinner=False)
def datasets_diff(caller: Caller, run_a: str, run_b: str) -> diffs.DatasetsDiff:
    return diffs.diff_datasets(context.client(), caller, run_a, run_b)


@st.cache_data(ttl=15, show_spinner=False)
def recorded_run(caller: Caller, run_id: str) -> RunRecord:
    return reproduction.recorded_run(context.client(), caller, run_id)


@st.cache_data(ttl=15, show_spinner=False)
def reproduction_links(caller: Caller, run_id: str) -> reproduction.ReproductionLinks:
    return reproduction.reproduction_links(context.client(), caller, run_id)


@st.cache_data(ttl=30, show_spinner=False)
def reproduction_report(
    caller: Caller, original_id: str, reproduction_id: str
) -> ReproductionReport:
    return reproduction.reproduction_report(context.client(), caller, original_id, reproduction_id)


@st.cache_data(ttl=30, show_spinner=False)
def data_changed_since(caller: Caller, run_id: str) -> tuple[reproduction.DataSince, ...]:
    return reproduction.data_changed_since(context.client(), caller, run_id)


@st.cache_data(ttl=15, show_spinner=False)
def run_branches(caller: Caller, run_id: str) -> branches.RunBranches:
    return branches.run_branches(context.client(), caller, run_id)


@st.cache_data(ttl=15, show_spinner=False)
def earlier_attempts(caller: Caller, run_id: str, keys: tuple[str, ...]) -> pd.DataFrame:
    return branches.earlier_attempts(context.client(), caller, run_id, keys)


@st.cache_data(ttl=15, show_spinner=False)
def lineage_graph(
    caller: Caller,
    node: lineage.Node,
    direction: Literal["upstream", "downstream", "both"],
    depth: int,
) -> lineage.LineageGraph:
    return lineage.lineage(context.client(), caller, node, direction, depth)


@st.cache_data(ttl=15, show_spinner=False)
def models(caller: Caller) -> tuple[model_reads.ModelSummary, ...]:
    return model_reads.models_overview(context.client(), caller)


@st.cache_data(ttl=15, show_spinner=False)
def model_versions(caller: Caller, model_id: str) -> tuple[model_reads.VersionRow, ...]:
    return model_reads.model_versions(context.client(), caller, model_id)


@st.cache_data(ttl=15, show_spinner=False)
def model_alias_history(caller: Caller, model_id: str) -> tuple[model_registry.AliasMove, ...]:
    return tuple(model_registry.alias_history(context.client(), caller, model_id))


@st.cache_data(ttl=15, show_spinner=False)
def run_model_versions(caller: Caller, run_id: str) -> model_reads.RunModelVersions:
    return model_reads.run_model_versions(context.client(), caller, run_id)


@st.cache_data(ttl=15, show_spinner=False)
def model_provenance(caller: Caller, model_id: str, version: int) -> provenance.ModelProvenance:
    return provenance.model_provenance(context.client(), caller, model_id, version)


def comments(caller: Caller, target_kind: str, target_id: str) -> tuple[Comment, ...]:
    return collaboration.comments(context.client(), caller, target_kind, target_id)


def project_comments(caller: Caller, team: str, project: str) -> tuple[Comment, ...]:
    return collaboration.project_comments(context.client(), caller, team, project)


def comment_history(caller: Caller, comment_id: str) -> tuple[collaboration.CommentVersion, ...]:
    return collaboration.comment_history(context.client(), caller, comment_id)


def decisions(
    caller: Caller, *, project: str | None = None, run_id: str | None = None
) -> tuple[collaboration.Decision, ...]:
    return collaboration.decisions(context.client(), caller, project=project, run_id=run_id)


def notes(caller: Caller, team: str, project: str) -> collaboration.ProjectNotes | None:
    return collaboration.project_notes(context.client(), caller, team, project)


def activity(caller: Caller, **where: str) -> tuple[collaboration.Activity, ...]:
    return collaboration.activity(context.client(), caller, limit=50, **where)  # type: ignore[arg-type]


def ownership_history(
    caller: Caller, target_kind: str, target_id: str
) -> tuple[collaboration.OwnershipTransfer, ...]:
    return collaboration.ownership_history(context.client(), caller, target_kind, target_id)


def owned_objects(caller: Caller) -> tuple[sharing.OwnedObject, ...]:
    return sharing.owned_objects(context.client(), caller)


def transfers(caller: Caller) -> tuple[sharing.Transfer, ...]:
    return sharing.recent_transfers(context.client(), caller)


def shares(caller: Caller) -> tuple[sharing.ShareRow, ...]:
    return sharing.shares_involving(context.client(), caller)


def run_sequences(caller: Caller, run_ids: Sequence[str]) -> dict[str, int]:
    """Each run's highest event sequence, read once for a whole batch of portal writes."""
    return run_details.visible_last_sequences(context.client(), caller, run_ids)


def run_summaries(caller: Caller, run_ids: Sequence[str]) -> pd.DataFrame:
    """Name, project, owner and status of specific runs (for labels), via the filter language."""
    if not run_ids:
        return pd.DataFrame(columns=["run_id", "team", "project", "name", "owner", "status"])
    quoted = ", ".join(quote(run_id) for run_id in run_ids)
    return search(
        caller,
        f"run_id in ({quoted})",
        "created desc",
        ("run_id", "team", "project", "name", "owner", "status"),
        min(len(run_ids), runs.MAX_LIMIT),
    )


def quote(text: str) -> str:
    """A string literal of the filter language."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def inbox(caller: Caller) -> tuple[automations.InboxItem, ...]:
    """Never cached: marking read must show at once."""
    return automations.inbox(context.client(), caller)


@st.cache_data(ttl=10, show_spinner=False)
def unread_count(caller: Caller) -> int:
    return automations.unread_count(context.client(), caller)


def rules(caller: Caller, team: str) -> tuple[automations.RuleInfo, ...]:
    return automations.rules(context.client(), caller, team=team)


def deliveries(caller: Caller, team: str, rule: str | None) -> tuple[automations.Delivery, ...]:
    return automations.deliveries(context.client(), caller, team=team, rule=rule)


def unread_count_or_zero(caller: Caller) -> int:
    """The sidebar's count; a store that cannot answer right now must not take every page down."""
    try:
        return unread_count(caller)
    except CairnError:
        return 0


# --- the Runs workspace: fresh table reads, chart panels (ui/views/runs.py) -------------------


@st.cache_data(ttl=live.FRESH_TTL_S, show_spinner=False)
def live_search(
    caller: Caller, filter: str | None, order_by: str, columns: tuple[str, ...], limit: int
) -> pd.DataFrame:
    """:func:`search` for a live fragment's tick."""
    return runs.search_runs(
        context.client(), caller, filter, order_by, limit=limit, columns=list(columns)
    )


def runs_signature(caller: Caller, filter: str | None) -> tuple[int, str]:
    """How many runs match and the newest one's id, never cached: a Runs page whose runs all
    ended compares it now and then to notice a run started meanwhile."""
    newest = runs.search_runs(
        context.client(), caller, filter, "created desc", 1, columns=["run_id"]
    )
    first = str(newest["run_id"].iloc[0]) if len(newest) else ""
    return runs.count_runs(context.client(), caller, filter), first


def _panel_points(
    caller: Caller, run_ids: tuple[str, ...], keys: tuple[str, ...], x: str, max_points: int
) -> pd.DataFrame:
    client = context.client()
    if not run_ids:
        return pd.DataFrame()
    if x.startswith("metric:"):
        return series.metric_against(
            client, caller, list(run_ids), list(keys), x.removeprefix("metric:"), max_points
        )
    axis: Literal["step", "time"] = "step" if x == "step" else "time"
    return series.metric_series(
        client, caller, list(run_ids), list(keys), max_points, axis, buckets=True
    )


@st.cache_data(ttl=15, show_spinner=False)
def panel_points(
    caller: Caller, run_ids: tuple[str, ...], keys: tuple[str, ...], x: str, max_points: int
) -> pd.DataFrame:
    """The Runs page's chart panels: each key of each run against ``x`` (``step``, ``wall``,
    ``relative``, ``metric:<key>``), downsampled with bucket numbers (min/max bands)."""
    return _panel_points(caller, run_ids, keys, x, max_points)


@st.cache_data(ttl=live.FRESH_TTL_S, show_spinner=False)
def live_panel_points(
    caller: Caller, run_ids: tuple[str, ...], keys: tuple[str, ...], x: str, max_points: int
) -> pd.DataFrame:
    return _panel_points(caller, run_ids, keys, x, max_points)
