"""How values read on the page: times (UTC), durations, sizes, people and ids."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd


def utc(moment: datetime | pd.Timestamp | None) -> datetime | None:
    """An aware UTC datetime (the store's DateTime64 values arrive naive, meaning UTC)."""
    if moment is None or pd.isna(moment):
        return None
    if isinstance(moment, pd.Timestamp):
        moment = moment.to_pydatetime()
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def when(moment: datetime | pd.Timestamp | None) -> str:
    """``2026-06-01 14:03 UTC`` ('' for no time)."""
    at = utc(moment)
    return at.strftime("%Y-%m-%d %H:%M UTC") if at else ""


def ago(moment: datetime | pd.Timestamp | None, now: datetime | None = None) -> str:
    """``5 min ago``, ``3 h ago``, ``2 days ago`` ('' for no time)."""
    at = utc(moment)
    if at is None:
        return ""
    seconds = ((now or datetime.now(UTC)) - at).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    days = int(seconds // 86400)
    return f"{days} day{'s' if days != 1 else ''} ago"


def duration(seconds: float | None) -> str:
    if seconds is None or pd.isna(seconds):
        return ""
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


# "&" too: "&lt;" someone typed must show as typed, not as "<".
_MARKDOWN_INLINE = set("\\`*_{}[]()#|<>~$:!&")
_LINE_START = re.compile(r"^([-+]|\d+\.)(?=\s)")


def md(text: object) -> str:
    """``text`` as literal markdown on one line: every character markdown (or Streamlit's LaTeX
    and emoji shortcodes) could interpret is escaped, and so is a list marker at the start, so
    names and titles people chose cannot become links, images or formatting in ``st.markdown``."""
    line = " ".join(str(text).split())
    escaped = "".join("\\" + ch if ch in _MARKDOWN_INLINE else ch for ch in line)
    return _LINE_START.sub(r"\\\1", escaped)


def times_edited(count: int) -> str:
    return "edited once" if count == 1 else f"edited {count} times"


def size(nbytes: int | None) -> str:
    if not nbytes:
        return "0 B"
    value = float(nbytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def short(identifier: str, length: int = 8) -> str:
    """The first characters of a long id or digest (``sha256:`` prefixes dropped)."""
    text = identifier.split(":", 1)[1] if identifier.startswith("sha256:") else identifier
    return text[:length]


def number(value: object) -> str:
    """Compact numbers for tables and labels (4 significant digits)."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@dataclass(frozen=True)
class Person:
    user_id: str
    display_name: str
    active: bool  # still a member of at least one team the caller can see


class People:
    """Display names for user ids; people who left keep their name, marked as former."""

    def __init__(self, people: Mapping[str, Person]) -> None:
        self._people = dict(people)

    def name(self, user_id: str) -> str:
        """``Bob Okafor (left)`` for a former member, the id itself for strangers."""
        person = self._people.get(user_id)
        if person is None:
            return user_id or "unknown"
        return person.display_name if person.active else f"{person.display_name} (left)"

    def active(self, user_id: str) -> bool:
        person = self._people.get(user_id)
        return bool(person and person.active)

    def known(self, user_id: str) -> bool:
        return user_id in self._people

    def ids(self, *, active_only: bool = False) -> list[str]:
        return sorted(
            (p.user_id for p in self._people.values() if p.active or not active_only),
            key=lambda u: self._people[u].display_name.lower(),
        )
