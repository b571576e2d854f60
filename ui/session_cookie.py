"""Staying signed in across reloads and permalinks: a signed, expiring session cookie.

A password sign-in gives the browser a cookie ``cairn_session`` holding a token::

    v1.<user id, base64url>.<method>.<issued at, unix seconds>.<HMAC-SHA256, hex>

The token holds who and when, never a password or a team. The MAC (key: the portal's
``CAIRN_PORTAL_COOKIE_SECRET``) covers those fields *and a stamp of the user's current password
hash*, so changing a user's password in the users file ends every session it had. On use the
token must verify, be younger than ``CAIRN_PORTAL_SESSION_DAYS`` (7 by default) and name a user
the users file still has; the identity (display name, teams, admin) is then read afresh from the
users file, so a person removed from a team loses it on the next page load.

Sign-out clears the cookie in that browser and ignores it for the rest of the session. A copy
of the token taken before sign-out keeps working until it expires (there is no server-side
session list to strike it from); changing the password revokes it at once.

The cookie is written by a few lines of script the page runs (Streamlit offers no response
headers to a page, and component iframes are refused by the portal's ``frame-ancestors
'none'``): ``Path=/``, ``SameSite=Lax``, ``Secure`` on https, ``Max-Age`` the session length. It
cannot be ``HttpOnly``; the portal renders no user text as markup, and the token alone grants
no more than the session it stands for. This module is pure: making and checking tokens.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Final

COOKIE: Final = "cairn_session"
VERSION: Final = "v1"
METHODS: Final = frozenset({"password"})  # sign-in ways a cookie may stand for
_TOKEN = re.compile(r"v1\.[A-Za-z0-9_-]{1,400}\.[a-z_]{1,20}\.[0-9]{1,12}\.[0-9a-f]{64}")


@dataclass(frozen=True)
class Session:
    user_id: str
    method: str
    issued_at: int  # unix seconds


def _stamp(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()


def _mac(secret: str, payload: str, password_hash: str) -> str:
    message = f"{payload}|{_stamp(password_hash)}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def make_token(secret: str, session: Session, password_hash: str) -> str:
    """The cookie value for ``session`` (``password_hash``: the user's stored scrypt hash)."""
    if not secret:
        raise ValueError("no cookie secret: persistent sign-in is off")
    if session.method not in METHODS:
        raise ValueError(f"a session cookie cannot stand for a {session.method!r} sign-in")
    user = base64.urlsafe_b64encode(session.user_id.encode()).decode().rstrip("=")
    payload = f"{VERSION}.{user}.{session.method}.{session.issued_at}"
    return f"{payload}.{_mac(secret, payload, password_hash)}"


def read_token(token: str) -> Session | None:
    """The session a well-formed token claims, unverified (None if malformed)."""
    if not _TOKEN.fullmatch(token):
        return None
    _, user, method, issued, _ = token.split(".")
    try:
        user_id = base64.urlsafe_b64decode(user + "=" * (-len(user) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    if method not in METHODS or not user_id:
        return None
    return Session(user_id, method, int(issued))


def verify(
    secret: str, token: str, password_hash: str, *, now: float, max_age_s: float
) -> Session | None:
    """The session ``token`` stands for if its MAC matches (with the user's current password
    hash), it was issued no later than ``now`` and is younger than ``max_age_s``; else None."""
    claimed = read_token(token)
    if claimed is None or not secret:
        return None
    payload, mac = token.rsplit(".", 1)
    if not hmac.compare_digest(mac, _mac(secret, payload, password_hash)):
        return None
    if not claimed.issued_at - 60 <= now < claimed.issued_at + max_age_s:  # 60 s clock skew
        return None
    return claimed


def set_script(token: str, max_age_s: int) -> str:
    """The script that stores ``token`` in the browser (``max_age_s`` 0 deletes the cookie).
    ``token`` must be one :func:`make_token` made (or empty): it is checked, never escaped."""
    if token and not _TOKEN.fullmatch(token):
        raise ValueError("not a session token")
    return (
        "<script>document.cookie = "
        f'"{COOKIE}={token}; Max-Age={int(max_age_s)}; Path=/; SameSite=Lax"'
        ' + (location.protocol === "https:" ? "; Secure" : "");</script>'
    )
