"""Helpers of the Handover page: who owns what, what a leaver leaves behind, and the transfers."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import pandas as pd

from query.people import Member
from query.sharing import OwnedObject, Transfer
from reports.format import when
from ui.events import Target, TargetKind


def active_members(members: Iterable[Member], team: str) -> set[str]:
    return {m.user_id for m in members if m.team == team and m.active}


def ownership_summary(
    runs: pd.DataFrame, objects: Sequence[OwnedObject], members: Sequence[Member], team: str
) -> pd.DataFrame:
    """Per person who owns something in ``team`` or is a member: runs, projects and models
    owned, and whether they are still in the team (people who left are listed, never hidden)."""
    counts: dict[str, dict[str, int]] = {}
    for owner, n in runs["owner"].value_counts().items() if not runs.empty else ():
        counts.setdefault(str(owner), {})["runs"] = int(n)
    for item in objects:
        if item.team == team:
            slot = counts.setdefault(item.owner, {})
            slot[f"{item.kind}s"] = slot.get(f"{item.kind}s", 0) + 1
    members_here = {m.user_id: m for m in members if m.team == team}
    for user_id in members_here:
        counts.setdefault(user_id, {})
    rows = []
    for user_id, owned in counts.items():
        member = members_here.get(user_id)
        state = "member" if member and member.active else ("left" if member else "not a member")
        rows.append(
            {
                "person": user_id,
                "state": state,
                "runs": owned.get("runs", 0),
                "projects": owned.get("projects", 0),
                "models": owned.get("models", 0),
            }
        )
    frame = pd.DataFrame(rows, columns=["person", "state", "runs", "projects", "models"])
    return frame.sort_values(["state", "person"]).reset_index(drop=True)


def orphaned_runs(runs: pd.DataFrame, active: set[str]) -> pd.DataFrame:
    """Runs whose owner is no longer (or never was) an active member of the team."""
    if runs.empty:
        return runs
    return runs[~runs["owner"].isin(active)].reset_index(drop=True)


def run_targets(runs: pd.DataFrame) -> list[tuple[Target, str]]:
    """(target, current owner) for each row of a runs table (columns run_id, team, project, owner)."""
    return [
        (Target(TargetKind.RUN, str(r.run_id), str(r.team), str(r.project)), str(r.owner))
        for r in runs.itertuples()
    ]


def object_targets(objects: Iterable[OwnedObject]) -> list[tuple[Target, str]]:
    out = []
    for item in objects:
        kind = TargetKind.PROJECT if item.kind == "project" else TargetKind.MODEL
        out.append((Target(kind, item.id, item.team, item.project), item.owner))
    return out


def everything_of(
    person: str, runs: pd.DataFrame, objects: Sequence[OwnedObject], team: str
) -> list[tuple[Target, str]]:
    """Every run, project and model of ``team`` that ``person`` owns now."""
    own_runs = runs[runs["owner"] == person] if not runs.empty else runs
    own_objects = [o for o in objects if o.team == team and o.owner == person]
    return run_targets(own_runs) + object_targets(own_objects)


def handover_log(
    transfers: Iterable[Transfer], run_names: Mapping[str, str], name_of: Callable[[str], str]
) -> pd.DataFrame:
    """The handover log's rows: what moved by its name (a run by its name, the id beside it, as
    people remember runs by name), from whom to whom, why and by whom."""
    rows = []
    for t in transfers:
        name = run_names.get(t.target_id, "") if t.target_kind == "run" else t.target_id
        rows.append(
            {
                "when": when(t.occurred_at),
                "what": f"{t.target_kind} {name or t.target_id[:12]}",
                "id": t.target_id[:12] if t.target_kind == "run" else "",
                "project": t.project,
                "from": name_of(t.from_user),
                "to": name_of(t.to_user),
                "reason": t.reason,
                "by": name_of(t.actor),
            }
        )
    columns = ["when", "what", "id", "project", "from", "to", "reason", "by"]
    return pd.DataFrame(rows, columns=columns)
