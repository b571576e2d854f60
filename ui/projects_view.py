"""Helpers of the Projects page: searching and grouping project cards."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from query.projects import ProjectActivity


def matches(project: ProjectActivity, query: str) -> bool:
    """Whether every word of ``query`` occurs in the project's name, slug, team or description."""
    haystack = " ".join(
        (project.display_name, project.project, project.team, project.description)
    ).lower()
    return all(word in haystack for word in query.lower().split())


def group_by_team(
    projects: Iterable[ProjectActivity], own_teams: Iterable[str]
) -> list[tuple[str, Sequence[ProjectActivity]]]:
    """Projects by team: the caller's own teams first (alphabetically), then teams that shared
    something; within a team, the most recently active project first."""
    own = set(own_teams)
    by_team: dict[str, list[ProjectActivity]] = {}
    for project in projects:
        by_team.setdefault(project.team, []).append(project)

    def recency(p: ProjectActivity) -> float:
        times = [t.timestamp() for t in (p.last_run_at, p.last_comment_at) if t is not None]
        return -max(times, default=0.0)

    return [
        (team, sorted(items, key=lambda p: (recency(p), p.project)))
        for team, items in sorted(by_team.items(), key=lambda kv: (kv[0] not in own, kv[0]))
    ]
