"""Connecting to ClickHouse from a URL setting (``CAIRN_CLICKHOUSE_URL``).

The URL has the form ``http[s]://user:password@host:port/database``. Locally it points at the
chdb-backed endpoint that ``cairn up`` runs; in production at a ClickHouse server or cluster. The
code is the same either way: that is the point of the endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from cairn_contract.errors import ConfigError


@dataclass(frozen=True)
class ClickHouseTarget:
    host: str
    port: int
    username: str
    password: str
    database: str
    secure: bool

    @classmethod
    def from_url(cls, url: str) -> ClickHouseTarget:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"ClickHouse URL must look like http://user:password@host:8123/database, got {url!r}",
                field="CAIRN_CLICKHOUSE_URL",
            )
        secure = parts.scheme == "https"
        return cls(
            host=parts.hostname,
            port=parts.port or (8443 if secure else 8123),
            username=unquote(parts.username or "default"),
            password=unquote(parts.password or ""),
            database=parts.path.strip("/") or "default",
            secure=secure,
        )

    def redacted(self) -> str:
        scheme = "https" if self.secure else "http"
        return f"{scheme}://{self.username}:***@{self.host}:{self.port}/{self.database}"


def connect(
    url: str, *, database: str | None = None, timeout_s: float | None = None, **settings: Any
) -> Client:
    """An HTTP client for the URL (``database`` overrides the URL's; ``timeout_s`` the driver's
    default wait of 300 s for a reply, for long maintenance statements)."""
    target = ClickHouseTarget.from_url(url)
    extra: dict[str, Any] = {} if timeout_s is None else {"send_receive_timeout": timeout_s}
    return clickhouse_connect.get_client(
        **extra,
        host=target.host,
        port=target.port,
        username=target.username,
        password=target.password,
        database=database or target.database,
        secure=target.secure,
        compress="lz4",
        settings=settings or None,
    )
