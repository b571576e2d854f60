"""Settings of the portal, from ``CAIRN_*`` variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from servicekit.envconfig import read_str


@dataclass(frozen=True)
class PortalSettings:
    clickhouse_url: str = "http://default:@127.0.0.1:8123/cairn"
    ingest_url: str = "127.0.0.1:50051"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> PortalSettings:
        defaults = cls()
        return cls(
            clickhouse_url=read_str(env, "CAIRN_CLICKHOUSE_URL", defaults.clickhouse_url),
            ingest_url=read_str(env, "CAIRN_INGEST_URL", defaults.ingest_url),
        )
