"""``cairn replay`` on the local stack: where it replays to, and pausing the local processors.

Production code never imports the local stack; :mod:`processors.cli` finds this through the
``cairn.replay_targets`` entry-point group. On a machine running the local stack the replay goes
to the stack's ClickHouse endpoint as its admin and Kafka broker, with the supervised processors
part stopped for the replay and started again afterwards (the same as stopping the processors
deployment in production, docs/schema.md).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from localstack import secrets as local_secrets
from localstack.settings import StackSettings
from localstack.stack import Supervisor, parts


@dataclass(frozen=True)
class LocalReplayTarget:
    clickhouse_url: str
    kafka_bootstrap: str
    _stack: StackSettings
    _secrets: local_secrets.LocalSecrets
    _environ: Mapping[str, str]

    @contextmanager
    def processors_paused(self) -> Iterator[None]:
        """Stop the supervised processors workers (the one of the single profile, all three of
        the cluster's) for the block, then start the ones that ran again."""
        supervisor = Supervisor(self._stack)
        workers = [
            p
            for p in parts(self._stack, self._secrets, self._environ)
            if p.name.split("-")[0] == "processors"
        ]
        stopped = [part for part in workers if supervisor.stop(part.name)]
        if stopped:
            print(f"  {', '.join(p.name for p in stopped)} stopped for the replay")
        try:
            yield
        finally:
            if stopped:
                supervisor.start_together(stopped)
                print(f"  {', '.join(p.name for p in stopped)} started again")


def local_replay_target(environ: Mapping[str, str]) -> LocalReplayTarget | None:
    """The running local stack's replay target, or None when this machine runs none."""
    stack = StackSettings.from_env(environ)
    found = local_secrets.load(stack.secrets_path)
    if found is None:
        return None
    return LocalReplayTarget(
        stack.admin_clickhouse_url(found), stack.kafka_bootstrap, stack, found, environ
    )
