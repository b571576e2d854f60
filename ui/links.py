"""Where things live in the portal: page scripts, their URL paths and permalinks.

Every view keeps its state in the URL's query parameters, so the address bar is always a
permalink: copying it (or the link the Sharing panel shows) reopens the same run, comparison or
chart view for anyone allowed to see it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import urlencode

PAGES = {
    "projects": "views/projects.py",
    "runs": "views/runs.py",
    "run": "views/run.py",
    "compare": "views/compare.py",
    "sweep": "views/sweep.py",
    "lineage": "views/lineage.py",
    "models": "views/models.py",
    "discussion": "views/discussion.py",
    "handover": "views/handover.py",
    "sharing": "views/sharing.py",
}
URL_PATHS = {name: ("" if name == "projects" else name) for name in PAGES}


def permalink(base_url: str, page: str, params: Mapping[str, str] | None = None) -> str:
    """The absolute URL of ``page`` with ``params`` (empty values left out)."""
    path = URL_PATHS[page]
    query = urlencode({k: v for k, v in (params or {}).items() if v not in ("", None)})
    return f"{base_url.rstrip('/')}/{path}" + (f"?{query}" if query else "")


def run_params(run_id: str, **view: str) -> dict[str, str]:
    return {"id": run_id, **view}


def compare_params(run_ids: Sequence[str], **view: str) -> dict[str, str]:
    return {"runs": ",".join(run_ids), **view}


def split_ids(text: str | None) -> list[str]:
    """``a,b,,c`` -> ``[a, b, c]`` (order kept, duplicates dropped)."""
    return list(dict.fromkeys(part.strip() for part in (text or "").split(",") if part.strip()))


def project_filter(team: str, project: str) -> str:
    """The runs filter selecting one project."""
    return f"team = '{_escape(team)}' and project = '{_escape(project)}'"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")
