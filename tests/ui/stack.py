"""A throwaway local stack with the demo seeded, for browser tests, screenshots and benchmarks.

``cairn up`` as a user runs it (temporary ``CAIRN_HOME``, free ports), then ``python -m
localstack.demo`` seeds the demo through ingest and waits until it is projected; the stack's own
portal then serves it (it finds the demo's users and keys files in ``CAIRN_HOME``). ``cairn down``
stops everything afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from localstack.processes import free_port

REPO = Path(__file__).resolve().parents[2]
CAIRN = [sys.executable, "-m", "cairn.cli"]


@dataclass(frozen=True)
class DemoStack:
    home: Path
    env: dict[str, str]

    @property
    def portal_url(self) -> str:
        return f"http://127.0.0.1:{self.env['CAIRN_PORTAL_PORT']}"

    @property
    def clickhouse_url(self) -> str:
        secrets = json.loads((self.home / "secrets.json").read_text())
        port = self.env["CAIRN_CLICKHOUSE_PORT"]
        return f"http://cairn:{secrets['clickhouse_admin_password']}@127.0.0.1:{port}/cairn"

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CAIRN, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=REPO,
        )


def stack_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        CAIRN_HOME=str(home),
        CAIRN_LOCAL_STACK_FILE=str(home / "local-stack.json"),
        CAIRN_KAFKA_PORT=str(free_port()),
        CAIRN_KAFKA_CONTROLLER_PORT=str(free_port()),
        CAIRN_CLICKHOUSE_PORT=str(free_port()),
        CAIRN_INGEST_PORT=str(free_port()),
        CAIRN_INGEST_METRICS_PORT=str(free_port()),
        CAIRN_PROCESSORS_PORT=str(free_port()),
        CAIRN_PORTAL_PORT=str(free_port()),
    )
    for name in (
        "CAIRN_CLICKHOUSE_URL",
        "CAIRN_SQL_URL",
        "CAIRN_PORTAL_API_KEY",
        "CAIRN_PORTAL_USERS",
    ):
        env.pop(name, None)
    return env


@contextmanager
def demo_stack(home: Path | None = None, *, seed: bool = True) -> Iterator[DemoStack]:
    """A running local stack (with the demo unless ``seed`` is false); stopped on exit."""
    with tempfile.TemporaryDirectory(prefix="cairn-ui-") as tmp:
        root = home or Path(tmp)
        stack = DemoStack(root, stack_env(root))
        try:
            up = stack.cli("up")
            if up.returncode != 0:
                raise RuntimeError(f"cairn up failed:\n{up.stdout}\n{up.stderr}")
            if seed:
                seeded = subprocess.run(
                    [sys.executable, "-m", "localstack.demo"], env=stack.env, capture_output=True,
                    text=True, timeout=300, check=False, cwd=REPO,
                )  # fmt: skip
                if seeded.returncode != 0:
                    raise RuntimeError(
                        f"seeding the demo failed:\n{seeded.stdout}\n{seeded.stderr}"
                    )
            yield stack
        finally:
            stack.cli("down", timeout=180)
