"""Who is signed in, and the three ways to sign in.

- **OIDC** (production): Streamlit's ``st.login`` with the identity provider configured under
  ``[auth]`` in ``.streamlit/secrets.toml``; the user id is the token's ``email`` (else ``sub``)
  and teams come from ``members_current``. Used when ``CAIRN_PORTAL_AUTH=oidc``, or ``auto``
  with ``[auth]`` configured. (Needs a real identity provider: not exercised by the tests.)
- **Password** (local stack): the users file (:mod:`ui.users`) names each user's teams.
- **API key**: anyone holding a valid Cairn key. Ingest decides whether the key works (an empty
  Append: authenticated, then refused as empty, so nothing is written); the ``api_keys``
  projection tells whose it is. A person's key signs in as that person with their teams from
  ``members_current`` (plus the key's team); a service key as ``service:<name>`` in its team.
  Keys never make anyone a portal admin.

Whatever the way, the session holds an :class:`Identity`, and every query runs as its
:class:`~query.access.Caller`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cairn_contract.errors import AuthenticationError
from query.access import Caller
from query.people import ApiKeyInfo
from ui.ingest_writer import key_id_of
from ui.settings import AuthMode
from ui.users import authenticate, load_users


@dataclass(frozen=True)
class Identity:
    user_id: str
    display_name: str
    teams: frozenset[str]
    admin: bool = False
    method: str = "password"  # password / api_key / oidc

    @property
    def caller(self) -> Caller:
        return Caller(self.user_id, self.teams, self.admin)


def effective_mode(mode: AuthMode, oidc_configured: bool) -> AuthMode:
    """``auto`` becomes OIDC when ``[auth]`` is configured, else local sign-in."""
    if mode is AuthMode.AUTO:
        return AuthMode.OIDC if oidc_configured else AuthMode.LOCAL
    return mode


def password_identity(users_file: Path | None, user_id: str, password: str) -> Identity | None:
    """The identity of a users-file user whose password matches, else None."""
    if users_file is None:
        return None
    user = authenticate(load_users(users_file), user_id, password)
    if user is None:
        return None
    return Identity(user.user_id, user.display_name, user.teams, user.admin, "password")


def api_key_identity(
    key: str,
    *,
    key_works: Callable[[str], bool],
    key_info: Callable[[str], ApiKeyInfo | None],
    teams_of: Callable[[str], frozenset[str]],
) -> Identity:
    """The identity a valid key stands for; AuthenticationError saying why not otherwise."""
    key = key.strip()
    key_id = key_id_of(key)
    if not key_id:
        raise AuthenticationError("that is not a Cairn API key (cairn_<id>_<secret>)")
    if not key_works(key):
        raise AuthenticationError("ingest does not accept this key (unknown, revoked or expired)")
    info = key_info(key_id)
    if info is None:
        raise AuthenticationError(
            "the key works, but the store has not caught up with it yet: try again in a moment"
        )
    if info.user_id:
        teams = frozenset({info.team}) | teams_of(info.user_id)
        return Identity(info.user_id, info.user_id, teams, False, "api_key")
    name = f"service:{info.name or key_id}"
    return Identity(name, name, frozenset({info.team}), False, "api_key")


def oidc_identity(
    claims: Mapping[str, Any],
    *,
    teams_of: Callable[[str], frozenset[str]],
    users_file: Path | None = None,
) -> Identity:
    """The identity of an OIDC-signed-in user (``st.user``'s claims). Portal admins are the
    users-file entries with ``admin: true`` (matched by user id)."""
    user_id = str(claims.get("email") or claims.get("sub") or "")
    if not user_id:
        raise AuthenticationError("the identity provider sent neither email nor sub")
    local = load_users(users_file).get(user_id) if users_file else None
    teams = teams_of(user_id) | (local.teams if local else frozenset())
    name = str(claims.get("name") or user_id)
    return Identity(user_id, name, teams, bool(local and local.admin), "oidc")
