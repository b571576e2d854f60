"""Settings of the portal, from ``CAIRN_*`` variables (read only by the entry point, ``app.py``).

| variable | meaning |
|---|---|
| ``CAIRN_CLICKHOUSE_URL`` | the store the portal reads through ``query/`` |
| ``CAIRN_INGEST_URL`` | where the portal appends the events people cause (comments, transfers ...) |
| ``CAIRN_PORTAL_URL`` | the portal's public address, for permalinks |
| ``CAIRN_PORTAL_API_KEY`` | the portal's admin *service* key(s): one key, or ``team=key,team=key``; an API key belongs to one team, so writing for several teams needs one key per team |
| ``CAIRN_PORTAL_API_KEYS_FILE`` | a JSON file ``{"team": "key", ...}`` with more keys, re-read when it changes (default ``$CAIRN_HOME/portal-keys.json``); the local stack and the demo write it |
| ``CAIRN_PORTAL_USERS`` | the local users file (default ``$CAIRN_HOME/portal-users.json``), see :mod:`ui.auth` |
| ``CAIRN_ARTIFACT_STORE`` | the artifact store the SDK writes to (directory or fsspec URL), for downloads |
| ``CAIRN_PORTAL_AUTH`` | ``auto`` (OIDC when ``[auth]`` is in Streamlit's secrets, else local), ``local`` or ``oidc`` |
| ``CAIRN_PORTAL_POLL_S`` | how often a page with a just-posted comment polls for its projection |
| ``CAIRN_PORTAL_COOKIE_SECRET`` | the key that signs the sign-in cookie (:mod:`ui.session_cookie`; at least 32 characters); unset: every reload asks to sign in again. ``cairn up`` generates one |
| ``CAIRN_PORTAL_SESSION_DAYS`` | how long a sign-in lasts in a browser (default 7, between 0.01 and 90) |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from cairn_contract.errors import ConfigError
from servicekit.envconfig import read_float, read_str

KEYS_FILE_NAME = "portal-keys.json"
USERS_FILE_NAME = "portal-users.json"
MIN_COOKIE_SECRET = 32


class AuthMode(StrEnum):
    AUTO = "auto"  # OIDC if Streamlit's secrets configure [auth], else local sign-in
    LOCAL = "local"  # the users file (password) or an API key
    OIDC = "oidc"  # st.login with the identity provider configured in secrets [auth]


def parse_api_keys(text: str) -> tuple[dict[str, str], tuple[str, ...]]:
    """``CAIRN_PORTAL_API_KEY``: ``team=key`` pairs (comma-separated), or bare keys whose team is
    looked up later. Returns (keys by team, bare keys)."""
    by_team: dict[str, str] = {}
    bare: list[str] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        team, sep, key = item.partition("=")
        if sep:
            if not team.strip() or not key.strip():
                raise ConfigError(
                    "CAIRN_PORTAL_API_KEY entries must look like team=key",
                    field="CAIRN_PORTAL_API_KEY",
                )
            by_team[team.strip()] = key.strip()
        else:
            bare.append(item)
    return by_team, tuple(bare)


@dataclass(frozen=True)
class PortalSettings:
    clickhouse_url: str = "http://default:@127.0.0.1:8123/cairn"
    ingest_url: str = "127.0.0.1:50051"
    portal_url: str = "http://127.0.0.1:8501"
    api_keys: Mapping[str, str] = field(default_factory=dict)  # team -> admin service key
    unscoped_api_keys: tuple[str, ...] = ()  # keys given without a team (looked up by key id)
    api_keys_file: Path | None = None
    users_file: Path | None = None
    artifact_store: str = ""
    auth_mode: AuthMode = AuthMode.AUTO
    poll_interval_s: float = 1.0
    cookie_secret: str = field(default="", repr=False)  # signs the sign-in cookie; "" = off
    session_days: float = 7.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> PortalSettings:
        defaults = cls()
        home = env.get("CAIRN_HOME", "")
        by_team, bare = parse_api_keys(env.get("CAIRN_PORTAL_API_KEY", ""))
        raw_mode = read_str(env, "CAIRN_PORTAL_AUTH", AuthMode.AUTO.value).strip().lower()
        try:
            mode = AuthMode(raw_mode)
        except ValueError:
            raise ConfigError(
                f"CAIRN_PORTAL_AUTH must be auto, local or oidc, got {raw_mode!r}",
                field="CAIRN_PORTAL_AUTH",
            ) from None
        poll = read_float(env, "CAIRN_PORTAL_POLL_S", defaults.poll_interval_s)
        if not 0.2 <= poll <= 60:
            raise ConfigError(
                f"CAIRN_PORTAL_POLL_S must be between 0.2 and 60, got {poll}",
                field="CAIRN_PORTAL_POLL_S",
            )
        cookie_secret = read_str(env, "CAIRN_PORTAL_COOKIE_SECRET", "")
        if cookie_secret and len(cookie_secret) < MIN_COOKIE_SECRET:
            raise ConfigError(
                f"CAIRN_PORTAL_COOKIE_SECRET must be at least {MIN_COOKIE_SECRET} characters",
                field="CAIRN_PORTAL_COOKIE_SECRET",
            )
        days = read_float(env, "CAIRN_PORTAL_SESSION_DAYS", defaults.session_days)
        if not 0.01 <= days <= 90:
            raise ConfigError(
                f"CAIRN_PORTAL_SESSION_DAYS must be between 0.01 and 90, got {days}",
                field="CAIRN_PORTAL_SESSION_DAYS",
            )
        return cls(
            clickhouse_url=read_str(env, "CAIRN_CLICKHOUSE_URL", defaults.clickhouse_url),
            ingest_url=read_str(env, "CAIRN_INGEST_URL", defaults.ingest_url),
            portal_url=read_str(env, "CAIRN_PORTAL_URL", defaults.portal_url).rstrip("/"),
            api_keys=by_team,
            unscoped_api_keys=bare,
            api_keys_file=_path(env, "CAIRN_PORTAL_API_KEYS_FILE", home, KEYS_FILE_NAME),
            users_file=_path(env, "CAIRN_PORTAL_USERS", home, USERS_FILE_NAME),
            artifact_store=read_str(
                env, "CAIRN_ARTIFACT_STORE", str(Path(home) / "artifacts") if home else ""
            ),
            auth_mode=mode,
            poll_interval_s=poll,
            cookie_secret=cookie_secret,
            session_days=days,
        )


def _path(env: Mapping[str, str], name: str, home: str, default_name: str) -> Path | None:
    """An explicit path, else ``$CAIRN_HOME/<default_name>`` when CAIRN_HOME is set."""
    raw = env.get(name, "")
    if raw:
        return Path(raw).expanduser()
    return Path(home) / default_name if home else None
