"""Helpers of the Run page: the chart view kept in the URL, and tables of what a run recorded."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

from query._records import CodeVersion, Environment, RunSummary
from query.compare import RunComparison
from query.progress import RunProgress
from reports.format import People, duration, size, when
from ui import live

SECTIONS = (
    "Charts", "Params", "System", "Artifacts", "Models", "Datasets", "Environment", "Code", "Lineage",
    "Reproduce", "Discussion",
)  # fmt: skip
DEFAULT_KEYS = 4


@dataclass(frozen=True)
class ChartView:
    """Which metrics, on which axis, how: the ``keys``, ``x``, ``log`` and ``smooth`` params."""

    keys: tuple[str, ...] = ()
    x: str = "step"  # step / time
    log_y: bool = False
    smoothing: float = 0.0  # EMA weight; 0 = raw

    @classmethod
    def from_params(cls, params: Mapping[str, str], available: Sequence[str]) -> ChartView:
        wanted = [k for k in params.get("keys", "").split(",") if k in available]
        try:
            smoothing = min(max(float(params.get("smooth", 0)), 0.0), 0.99)
        except ValueError:
            smoothing = 0.0
        return cls(
            keys=tuple(wanted) or tuple(preferred(available)[:DEFAULT_KEYS]),
            x="time" if params.get("x") == "time" else "step",
            log_y=params.get("log") == "1",
            smoothing=smoothing,
        )

    def to_params(self) -> dict[str, str]:
        out = {"keys": ",".join(self.keys)}
        if self.x != "step":
            out["x"] = self.x
        if self.log_y:
            out["log"] = "1"
        if self.smoothing:
            out["smooth"] = f"{self.smoothing:g}"
        return out


CHART_VIEWS = "run.chart_views"  # session state: each run's chart view as last shown


def chart_link_params(
    run_id: str, remembered: Mapping[str, Mapping[str, str]], metric_keys: Sequence[str]
) -> dict[str, str]:
    """The Run page parameters that reopen ``run_id``'s charts as this person last saw them
    (``remembered``: the session's :data:`CHART_VIEWS`), else as the page first shows them."""
    view = remembered.get(run_id) or ChartView.from_params({}, metric_keys).to_params()
    return {"id": run_id, "tab": "Charts", **view}


def preferred(keys: Sequence[str]) -> list[str]:
    """Metric keys in the order worth charting first: validation, then losses and scores."""

    def rank(key: str) -> tuple[int, int, str]:
        lowered = key.lower()
        validation = 0 if lowered.startswith(("val", "eval", "test")) else 1
        headline = 0 if any(w in lowered for w in ("loss", "acc", "auc", "f1", "map", "err")) else 1
        return validation, headline, key

    return sorted(keys, key=rank)


def overview_facts(run: RunSummary, people: People, now: datetime | None = None) -> dict[str, str]:
    """The Run page's header: status, people, times and host. A running run's duration is the
    time since it started ("4 min so far"), redrawn every second while the page is live."""
    if run.duration_s is not None:
        took = duration(run.duration_s)
    elif run.started_at is not None and run.status == live.RUNNING:
        took = f"{duration(((now or datetime.now(UTC)) - run.started_at).total_seconds())} so far"
    else:
        took = "-"
    return {
        "Status": run.status + (f" ({run.status_reason})" if run.status_reason else ""),
        "Owner": people.name(run.owner),
        "Created by": people.name(run.created_by),
        "Started": when(run.started_at),
        "Finished": when(run.finished_at) or "-",
        "Duration": took,
        "Host": run.host or "-",
    }


def params_table(comparison: RunComparison) -> pd.DataFrame:
    """A single run's parameters as (key, value) rows, sorted by key."""
    rows = dict(comparison.params_common)
    for differing in comparison.params_differing:
        rows[differing.key] = next((v for v in differing.values if v is not None), "")
    return pd.DataFrame(sorted(rows.items()), columns=["param", "value"])


def metrics_table(comparison: RunComparison | RunProgress) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"metric": m.key, "last": m.last[0], "min": m.min[0], "max": m.max[0], "last step": m.last_step[0]}
            for m in comparison.metrics
        ]
    )  # fmt: skip


def environment_facts(env: Environment) -> pd.DataFrame:
    facts = {
        "python": f"{env.python_implementation} {env.python_version}",
        "os": f"{env.os} {env.os_version}",
        "cpu": f"{env.cpu_model} x {env.cpu_count}",
        "memory": size(env.memory_bytes),
        "gpus": ", ".join(env.gpus) or "none",
        "cuda / cudnn": " / ".join(v for v in (env.cuda_version, env.cudnn_version) if v) or "-",
        "container": f"{env.container_image} {env.container_digest}".strip() or "-",
        "host": env.hostname,
        "packages": f"{len(env.packages)} (digest {env.packages_digest[:12]})",
    }
    return pd.DataFrame(list(facts.items()), columns=["", "value"])


def code_facts(code: CodeVersion) -> pd.DataFrame:
    facts = {
        "remote": code.git_remote,
        "branch": code.branch,
        "commit": code.commit,
        "uncommitted changes": "yes" if code.dirty else "no",
        "entry point": code.entry_point,
    }
    if code.diff_truncated:
        facts["patch"] = f"truncated (full patch sha256 {code.diff_sha256})"
    return pd.DataFrame(list(facts.items()), columns=["", "value"])
