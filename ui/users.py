"""The local users file: who may sign in to the portal with a password, and their teams.

Format (JSON, kept out of version control, mode 0600)::

    {"users": [{"user_id": "alice", "display_name": "Alice", "email": "alice@example.com",
                "password_scrypt": "scrypt$16384$8$1$<salt b64>$<hash b64>",
                "teams": ["risk"], "admin": false}]}

Passwords are stored only as scrypt hashes (``hashlib.scrypt``: memory-hard, salted, standard
library), made with ``python -m ui.users hash`` or :func:`hash_password`. ``admin`` users see
every team's projects and deleted comments' bodies. Teams here decide what a user sees; in
production, where people sign in through OIDC, membership comes from ``members_current``.
"""

from __future__ import annotations

import argparse
import base64
import getpass
import hashlib
import hmac
import json
import os
import secrets
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cairn_contract.errors import ConfigError

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
_PREFIX = "scrypt"


@dataclass(frozen=True)
class LocalUser:
    user_id: str
    display_name: str
    password_scrypt: str
    teams: frozenset[str]
    admin: bool = False
    email: str = ""


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$salt$hash`` for ``password`` (a fresh 16-byte salt unless given)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )
    encode = base64.b64encode
    return f"{_PREFIX}${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${encode(salt).decode()}${encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a :func:`hash_password` result (constant-time compare)."""
    try:
        prefix, n, r, p, salt, digest = stored.split("$")
        if prefix != _PREFIX:
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def _user(entry: object, index: int) -> LocalUser:
    if not isinstance(entry, dict):
        raise ConfigError(f"users[{index}] must be an object", field=f"users[{index}]")
    try:
        user_id = str(entry["user_id"])
        password = str(entry["password_scrypt"])
    except KeyError as missing:
        raise ConfigError(
            f"users[{index}] lacks {missing.args[0]}", field=f"users[{index}].{missing.args[0]}"
        ) from None
    teams = entry.get("teams", [])
    if not isinstance(teams, list) or not all(isinstance(t, str) for t in teams):
        raise ConfigError(f"users[{index}].teams must be a list of team slugs")
    return LocalUser(
        user_id=user_id,
        display_name=str(entry.get("display_name") or user_id),
        password_scrypt=password,
        teams=frozenset(teams),
        admin=bool(entry.get("admin", False)),
        email=str(entry.get("email", "")),
    )


def load_users(path: Path) -> dict[str, LocalUser]:
    """The users in ``path`` by user id (empty if the file does not exist)."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the portal users file {path}: {exc}") from exc
    entries = data.get("users", []) if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: expected {{'users': [...]}}")
    users = [_user(entry, i) for i, entry in enumerate(entries)]
    return {user.user_id: user for user in users}


def authenticate(users: dict[str, LocalUser], user_id: str, password: str) -> LocalUser | None:
    """The user if the password matches; None otherwise (also for unknown users, after spending
    the same time on a dummy hash, so timing does not tell which user ids exist)."""
    user = users.get(user_id.strip())
    if user is None:
        verify_password(password, _DUMMY_HASH)
        return None
    return user if verify_password(password, user.password_scrypt) else None


_DUMMY_HASH = hash_password("dummy", salt=b"\0" * 16)


def write_users(path: Path, users: Iterable[LocalUser]) -> None:
    """Write a users file atomically, readable by the owner only (it holds password hashes)."""
    data = {
        "users": [
            {
                "user_id": u.user_id,
                "display_name": u.display_name,
                "email": u.email,
                "password_scrypt": u.password_scrypt,
                "teams": sorted(u.teams),
                "admin": u.admin,
            }
            for u in users
        ]
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)
    tmp.replace(path)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ui.users hash``: print the scrypt hash of a password read from the terminal
    (or stdin), for the users file."""
    parser = argparse.ArgumentParser(prog="python -m ui.users")
    parser.add_argument("command", choices=["hash"])
    parser.parse_args(argv)
    password = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline()
    print(hash_password(password.rstrip("\n")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
