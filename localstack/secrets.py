"""The local stack's generated credentials, kept in ``$CAIRN_HOME/secrets.json`` (mode 0600).

Created on the first ``cairn up`` and reused afterwards, so restarts keep working credentials.
Production never uses this file: there, credentials come from the deployment's secret store.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from servicekit.secret_box import new_key


@dataclass(frozen=True)
class LocalSecrets:
    clickhouse_admin_password: str
    clickhouse_reporting_password: str
    admin_api_key: str = ""  # filled once the local admin key has been issued
    # Seals webhook secrets in the event log (ingest seals, the processors open; never logged).
    automations_secret_key: str = ""
    # Each team's SQL reporting password is derived from this (team_reporting_password), so
    # `cairn sql` can hand any team its credentials without storing a password per team.
    team_reporting_key: str = ""
    # Signs the portal's sign-in cookie (CAIRN_PORTAL_COOKIE_SECRET, ui/session_cookie.py).
    portal_cookie_secret: str = ""

    ADMIN_USER = "cairn"
    REPORTING_USER = "reporting"  # the cross-team reporting user (`cairn sql --all-teams`)

    def team_reporting_password(self, team: str) -> str:
        """The password of ``team``'s reporting user (``reporting_<team>``) on this stack."""
        if not self.team_reporting_key:
            raise ValueError("these local secrets have no team reporting key")
        digest = hmac.new(self.team_reporting_key.encode(), team.encode(), hashlib.sha256)
        return digest.hexdigest()[:32]


def load(path: Path) -> LocalSecrets | None:
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    return LocalSecrets(**data)


def save(path: Path, value: LocalSecrets) -> None:
    write_private_json(path, asdict(value))


def write_private_json(path: Path, data: Mapping[str, object]) -> None:
    """Write ``data`` to ``path`` atomically, readable only by the owner (it holds credentials)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)
    tmp.replace(path)


def load_or_create(path: Path) -> LocalSecrets:
    """The stack's secrets, created on first use; a file from before the automations secret key
    or team reporting users or the portal's cookie secret existed gets the missing key added (the other credentials stay)."""
    existing = load(path)
    if existing is not None:
        upgraded = existing  # a stack created before a key existed gets it added
        if not upgraded.automations_secret_key:
            upgraded = replace(upgraded, automations_secret_key=new_key())
        if not upgraded.team_reporting_key:
            upgraded = replace(upgraded, team_reporting_key=secrets.token_urlsafe(24))
        if not upgraded.portal_cookie_secret:
            upgraded = replace(upgraded, portal_cookie_secret=secrets.token_urlsafe(32))
        if upgraded != existing:
            save(path, upgraded)
        return upgraded
    created = LocalSecrets(
        clickhouse_admin_password=secrets.token_urlsafe(18),
        clickhouse_reporting_password=secrets.token_urlsafe(18),
        automations_secret_key=new_key(),
        team_reporting_key=secrets.token_urlsafe(24),
        portal_cookie_secret=secrets.token_urlsafe(32),
    )
    save(path, created)
    return created
