"""Typed reading of ``CAIRN_*`` environment variables.

Only entry points call these, passing the mapping they were given (usually ``os.environ``), so
settings objects stay plain frozen dataclasses that tests build directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from cairn_contract.errors import ConfigError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def read_str(env: Mapping[str, str], name: str, default: str) -> str:
    return env.get(name, default)


def read_int(env: Mapping[str, str], name: str, default: int, *, minimum: int | None = None) -> int:
    raw = env.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}", field=name) from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}", field=name)
    return value


def read_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}", field=name) from None


def read_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"{name} must be a boolean (1/0, true/false), got {raw!r}", field=name)


def read_path(env: Mapping[str, str], name: str, default: Path) -> Path:
    raw = env.get(name)
    return Path(raw).expanduser().resolve() if raw else default.expanduser().resolve()


def split_host_port(value: str, *, name: str) -> tuple[str, int]:
    """Split ``host:port`` (``[v6]:port`` too), naming the variable when it is malformed."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(f"{name} must look like host:port, got {value!r}", field=name)
    return host.strip("[]"), int(port)
