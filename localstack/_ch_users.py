"""Users of the ClickHouse HTTP endpoint: the users file and HTTP credentials.

The users file is JSON, ``{"users": [{"name", "password_sha256", "readonly"}]}``, written by
``cairn up`` (and test fixtures) with ``write_users_file`` and only readable by its owner. It
holds sha256 hashes, never passwords. The server re-reads it when it changes, so passwords can
be rotated (and team users added by ``add_team_user``) without a restart.

A **team user** has ``"team"`` and ``"database"`` (the projection database, ``cairn``) as well:
it is read-only and reads only ``<database>_reporting``, where it sees its team's rows plus what
is shared with the team (``query.row_policies``; the server applies it).

Credentials are taken the three ways ClickHouse accepts them (HTTP basic auth, the
``X-ClickHouse-User``/``X-ClickHouse-Key`` headers, ``user``/``password`` URL parameters), and
refused with AUTHENTICATION_FAILED (516) when wrong, missing or mixed, as ClickHouse does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import structlog

from localstack._ch_errors import AUTHENTICATION_FAILED, ClickHouseError

log = structlog.get_logger("localstack.clickhouse_http")


@dataclass(frozen=True)
class User:
    name: str
    password_sha256: str
    readonly: bool
    team: str = ""  # a team user: read-only, restricted to its team's rows in the reporting views
    database: str = ""  # a team user's projection database (its views are in <database>_reporting)


def _digest(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


def write_users_file(
    path: str | os.PathLike[str],
    users: Mapping[str, tuple[str, bool]],
    *,
    keep_team_users: bool = False,
) -> None:
    """Write the users file for ``users`` (name -> (password, readonly)), mode 0600.

    Only sha256 hashes of the passwords are stored. The file is replaced atomically, so a
    running server that re-reads it never sees half of it. ``keep_team_users`` keeps the team
    users already in the file (those not named in ``users``).
    """
    target = Path(path)
    entries = [
        {"name": name, "password_sha256": _digest(password), "readonly": readonly}
        for name, (password, readonly) in users.items()
    ]
    if keep_team_users and target.exists():
        entries += [
            _entry(user)
            for user in load_users(target).values()
            if user.team and user.name not in users
        ]
    _write(target, entries)


def add_team_user(
    path: str | os.PathLike[str], name: str, password: str, *, team: str, database: str
) -> None:
    """Add (or update) a team user in the users file: read-only, restricted to ``team``'s rows
    of ``<database>_reporting``. Other users are kept as they are."""
    target = Path(path)
    users = load_users(target)
    users[name] = User(name, _digest(password), True, team, database)
    _write(target, [_entry(user) for user in users.values()])


def _entry(user: User) -> dict[str, object]:
    entry: dict[str, object] = {
        "name": user.name,
        "password_sha256": user.password_sha256,
        "readonly": user.readonly,
    }
    if user.team:
        entry.update(team=user.team, database=user.database)
    return entry


def _write(target: Path, entries: list[dict[str, object]]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    doc = {"users": entries}
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (json.dumps(doc, indent=2) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, target)


def load_users(path: Path) -> dict[str, User]:
    """The users in a users file. Raises ValueError saying what is wrong with it."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read users file {path}: {exc}") from None
    entries = doc.get("users") if isinstance(doc, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"users file {path} must be {{'users': [...]}} with at least one user")
    users: dict[str, User] = {}
    for entry in entries:
        name = entry.get("name") if isinstance(entry, dict) else None
        digest = entry.get("password_sha256") if isinstance(entry, dict) else None
        readonly = entry.get("readonly", False) if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name:
            raise ValueError(f"users file {path}: every user needs a non-empty 'name'")
        if not isinstance(digest, str) or len(digest) != 64:
            raise ValueError(f"users file {path}: user {name!r} needs a hex 'password_sha256'")
        if not isinstance(readonly, bool):
            raise ValueError(f"users file {path}: 'readonly' of {name!r} must be true or false")
        team, database = entry.get("team", ""), entry.get("database", "")
        if (
            not isinstance(team, str)
            or not isinstance(database, str)
            or bool(team) != bool(database)
        ):
            raise ValueError(
                f"users file {path}: team user {name!r} needs both 'team' and 'database' strings"
            )
        # A team user is read-only whatever the file says.
        users[name] = User(name, digest.lower(), readonly or bool(team), team, database)
    return users


class UserDirectory:
    """The users file, re-read when it changes on disk (a broken rewrite keeps the old users)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._stamp = self._stat()
        self._users = load_users(path)

    def _stat(self) -> tuple[int, int, int]:
        try:
            st = self._path.stat()
        except OSError:
            return (0, 0, 0)
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _current(self) -> dict[str, User]:
        stamp = self._stat()
        with self._lock:
            if stamp != self._stamp:
                self._stamp = stamp
                try:
                    self._users = load_users(self._path)
                    log.info("users_reloaded", users=sorted(self._users))
                except ValueError as exc:
                    log.warning("users_reload_failed", error=str(exc))
            return self._users

    def authenticate(self, name: str, password: str) -> User:
        user = self._current().get(name)
        expected = user.password_sha256 if user else _digest(f"-{password}")
        if not hmac.compare_digest(_digest(password), expected) or user is None:
            raise ClickHouseError.make(
                AUTHENTICATION_FAILED,
                f"{name}: Authentication failed: password is incorrect, "
                "or there is no user with such name",
            )
        return user


def credentials(headers: Message, params: Mapping[str, str]) -> tuple[str, str]:
    """User and password from one of ClickHouse's three HTTP authentication methods."""
    methods: list[tuple[str, str]] = []
    auth = headers.get("Authorization", "")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "basic":
            raise ClickHouseError.make(
                AUTHENTICATION_FAILED, f"Unsupported authentication scheme {scheme!r}"
            )
        try:
            user, _, password = (
                base64.b64decode(token.strip(), validate=True).decode().partition(":")
            )
        except (binascii.Error, UnicodeDecodeError):
            raise ClickHouseError.make(
                AUTHENTICATION_FAILED, "Malformed Authorization header"
            ) from None
        methods.append((user, password))
    if "X-ClickHouse-User" in headers or "X-ClickHouse-Key" in headers:
        methods.append(
            (headers.get("X-ClickHouse-User", "default"), headers.get("X-ClickHouse-Key", ""))
        )
    if "user" in params or "password" in params:
        methods.append((params.get("user", "default"), params.get("password", "")))
    if len(methods) > 1:
        raise ClickHouseError.make(
            AUTHENTICATION_FAILED,
            "Invalid authentication: it is not allowed to use more than one authentication "
            "method (Authorization header, X-ClickHouse headers, URL parameters) at once",
        )
    return methods[0] if methods else ("default", "")
