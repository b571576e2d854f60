"""A whole local stack in a temporary home on free ports, for tests and benchmarks.

``cairn up`` and ``cairn down`` run exactly as a user runs them; only ``CAIRN_HOME``, the
discovery file and every port are moved, so a developer's own ``make up`` stack is untouched.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from localstack import secrets as local_secrets
from localstack.processes import free_port
from localstack.settings import CLUSTER_PORT_STRIDE, SINGLE, StackSettings

_PORT_VARIABLES = (
    "CAIRN_KAFKA_PORT",
    "CAIRN_KAFKA_CONTROLLER_PORT",
    "CAIRN_CLICKHOUSE_PORT",
    "CAIRN_INGEST_PORT",
    "CAIRN_INGEST_METRICS_PORT",
    "CAIRN_PROCESSORS_PORT",
    "CAIRN_PORTAL_PORT",
)


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port_series(taken: set[int], count: int) -> int:
    """A base port such that base + CLUSTER_PORT_STRIDE * i (i < count) were all free a moment
    ago and none is in ``taken`` (which gets them): where a cluster part's replicas listen."""
    while True:
        base = free_port()
        series = {base + CLUSTER_PORT_STRIDE * i for i in range(count)}
        if max(series) < 65536 and not series & taken and all(map(_bindable, series)):
            taken.update(series)
            return base


def stack_env(home: Path, base: Mapping[str, str], profile: str = SINGLE) -> dict[str, str]:
    """``base`` plus a temporary home, discovery file and free ports for every part (for the
    cluster profile, free for every replica of every part)."""
    env = {k: v for k, v in base.items() if not k.startswith("CAIRN_") or k == "CAIRN_CACHE_DIR"}
    env["CAIRN_HOME"] = str(home)
    env["CAIRN_LOCAL_STACK_FILE"] = str(home / "local-stack.json")
    taken: set[int] = set()
    replicas = 1 if profile == SINGLE else 3  # the most replicas any part has on the cluster
    for name in _PORT_VARIABLES:
        env[name] = str(free_port_series(taken, replicas))
    return env


def cairn(
    env: Mapping[str, str], *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run the ``cairn`` command with ``env``; the caller checks the return code."""
    return subprocess.run(
        [sys.executable, "-m", "cairn.cli", *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass(frozen=True)
class RunningStack:
    env: dict[str, str]  # give this to SDK processes: they find the stack through it
    home: Path

    @property
    def discovery(self) -> dict[str, str]:
        data: dict[str, str] = json.loads((self.home / "local-stack.json").read_text())
        return data

    @property
    def admin_clickhouse_url(self) -> str:
        settings = StackSettings.from_env(self.env)
        secrets = local_secrets.load(settings.secrets_path)
        if secrets is None:
            raise RuntimeError(f"no credentials in {settings.secrets_path}: did `cairn up` run?")
        return settings.admin_clickhouse_url(secrets)


@contextmanager
def temporary_stack(
    home: Path, base: Mapping[str, str] | None = None, *, profile: str = SINGLE
) -> Iterator[RunningStack]:
    env = stack_env(home, os.environ if base is None else base, profile)
    up = cairn(env, "up", "--profile", profile, timeout=600)
    try:
        if up.returncode != 0:
            raise RuntimeError(f"cairn up failed ({up.returncode}):\n{up.stdout}\n{up.stderr}")
        yield RunningStack(env, home)
    finally:
        cairn(env, "down", timeout=180)
