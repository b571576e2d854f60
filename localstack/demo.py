"""``cairn up --demo``: seed a realistic demo so a newcomer sees every portal page with content.

Two teams (``risk``, ``vision``), three projects, a hyperparameter sweep with a parent run, a
feature pipeline whose output dataset the training runs use, a model (``churn-classifier``) in
production with lineage to its data, comments (anchored, replied, edited, deleted), a decision,
a share with the other team, project notes, and a handover: Bob leaves risk, his project goes to
Alice, some runs are transferred and others stay his, listed as "owner left".

Everything goes the way users' data goes: real events, appended through ingest with API keys
(one admin service key per team, issued the way an operator does, since a team's first key
cannot come through ingest), then projected by the running processors; :func:`seed` returns
once the projections show the data. It also writes the portal's keys file (one admin service
key per team, for the portal to write with) and a users file whose people sign in with the
password :data:`DEMO_PASSWORD`. A marker in ``$CAIRN_HOME`` makes seeding happen once.

The story itself is :mod:`localstack.demo_story`, built from :mod:`localstack.demo_events`; this
module seeds a running stack with it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cairn_contract.artifact_layout import blob_key
from cairn_contract.errors import AuthenticationError, UnavailableError
from cairn_contract.v1 import events_pb2
from localstack import secrets as local_secrets
from localstack.demo_events import PEOPLE, EventLog, Stored
from localstack.demo_story import FORK_NAME, TEAMS, build_demo
from localstack.settings import StackSettings
from ui.ingest_writer import IngestWriter, KeyRing

__all__ = ["DEMO_PASSWORD", "FORK_NAME", "build_demo", "local_store", "seed", "write_users_file"]

DEMO_PASSWORD = "cairn-demo"  # noqa: S105 (documented, demo users only)
MARKER = "demo-seeded.json"


@dataclass(frozen=True)
class DemoSummary:
    runs: int
    events: int
    users_file: Path
    keys_file: Path
    seeded: bool  # False when an earlier seed was found


def local_store(root: Path) -> Callable[[str, bytes], Stored]:
    """Put demo files into a local content-addressed store, laid out as the SDK lays it out
    (``cairn_contract.artifact_layout``), so the portal's downloads read them the same way."""
    root = root.expanduser().resolve()

    def put(name: str, content: bytes) -> Stored:
        sha256 = hashlib.sha256(content).hexdigest()
        final = root / blob_key(sha256)
        if not final.exists():
            final.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=final.parent, delete=False) as temporary:
                temporary.write(content)
            os.chmod(temporary.name, 0o444)  # content-addressed: never modified in place
            os.replace(temporary.name, final)
        return Stored(name, sha256, final.as_uri(), len(content))

    return put


def _team_keys(settings: StackSettings, path: Path, name: str) -> dict[str, str]:
    """An admin service key named ``name`` per demo team, kept in ``path`` (issued once)."""
    from ingest.keys import issue_key_directly

    keys: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    for team in TEAMS:
        if team not in keys:
            keys[team] = asyncio.run(
                issue_key_directly(settings.kafka_bootstrap, team=team, role="admin", name=name)
            )
    local_secrets.write_private_json(path, keys)
    return keys


def write_users_file(path: Path) -> None:
    """Add the demo people to the portal's users file (existing users are kept)."""
    from localstack.bootstrap import LOCAL_TEAM
    from ui.users import LocalUser, hash_password, load_users, write_users

    users = load_users(path)
    for person in PEOPLE:
        users[person.user_id] = LocalUser(
            user_id=person.user_id,
            display_name=person.display_name,
            password_scrypt=hash_password(DEMO_PASSWORD),
            # Everyone is also in `local`, the local admin key's team: the runs a newcomer logs
            # with the SDK against this stack are visible to whoever signs in (README).
            teams=frozenset((*person.teams, LOCAL_TEAM)),
            admin=person.portal_admin,
            email=f"{person.user_id}@example.com",
        )
    write_users(path, users.values())


_BATCH = 200


def _append_all(ingest_url: str, keys: dict[str, str], events: Sequence[events_pb2.Event]) -> None:
    """Append in order through the portal's writer (:class:`ui.ingest_writer.IngestWriter`, one
    admin key per team), a run of consecutive same-team events at a time; waits (up to 30 s) for
    ingest to learn the freshly issued keys from the identity topic."""
    writer = IngestWriter(ingest_url, KeyRing(configured=keys), timeout_s=60)
    try:
        same_team: list[events_pb2.Event] = []
        for event in [*events, None]:
            if same_team and (
                event is None
                or event.envelope.team != same_team[0].envelope.team
                or len(same_team) >= _BATCH  # metric-heavy events: keep batches modest
            ):
                _append(writer, same_team)
                same_team = []
            if event is not None:
                same_team.append(event)
    finally:
        writer.close()


def _append(writer: IngestWriter, events: Sequence[events_pb2.Event]) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            writer.append(events)
            return
        except (AuthenticationError, UnavailableError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _wait_projected(clickhouse_url: str, log: EventLog, timeout: float = 120) -> None:
    """Until the processors have projected the demo: its runs, their final states, the talk."""
    from query.access import Caller
    from query.client import connect
    from query.collaboration import comments, ownership_history, project_notes
    from query.runs import count_runs

    client = connect(clickhouse_url)
    admin = Caller("demo", frozenset(TEAMS), admin=True)
    expected_runs = len(log.run_ids)
    best = log.run_ids["xgb-lr0.1-d6"]
    deadline = time.monotonic() + timeout
    while True:
        teams = "team in ('risk', 'vision')"
        done = (
            count_runs(client, admin, teams) >= expected_runs
            and count_runs(client, admin, f"{teams} and status = 'running'") <= 1
            and len(comments(client, admin, "run", best)) >= 3
            and len(ownership_history(client, admin, "model", "churn-classifier")) >= 1
            and project_notes(client, admin, "risk", "churn") is not None
        )
        if done:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the demo was not projected within {timeout:.0f} s")
        time.sleep(0.5)


def seed(settings: StackSettings, *, log: Callable[[str], None] = print) -> DemoSummary:
    """Seed the running local stack once; later calls find the marker and do nothing."""
    home = settings.home
    users_file = home / "portal-users.json"
    keys_file = home / "portal-keys.json"
    marker = home / MARKER
    if marker.exists():
        log(f"  {'demo':<11} already seeded ({json.loads(marker.read_text())['seeded_at']})")
        return DemoSummary(0, 0, users_file, keys_file, seeded=False)
    secrets = local_secrets.load(settings.secrets_path)
    if secrets is None:
        raise RuntimeError("the local stack has no credentials yet: run `cairn up` first")
    write_users_file(users_file)
    seed_keys = _team_keys(settings, home / "demo-seed-keys.json", "demo-seed")
    portal_keys = _team_keys(settings, keys_file, "portal")
    demo = build_demo(time.time_ns(), local_store(home / "artifacts"))
    _append_all(settings.ingest_address, seed_keys, demo.events)
    log(f"  {'demo':<11} appended {len(demo.events)} events ({len(demo.run_ids)} runs)")
    _wait_projected(settings.admin_clickhouse_url(secrets), demo)
    log(f"  {'demo':<11} projected; sign in as alice, bob, carol, dave or admin / {DEMO_PASSWORD}")
    local_secrets.write_private_json(
        marker, {"seeded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    )
    del portal_keys
    return DemoSummary(len(demo.run_ids), len(demo.events), users_file, keys_file, seeded=True)


def main() -> int:
    """``python -m localstack.demo``: seed the stack described by the ``CAIRN_*`` variables."""
    import os

    seed(StackSettings.from_env(os.environ))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
