"""Where a webhook may go: never to an internal address unless the operator allows it (pure).

A user-configured URL must not turn the processors into a proxy into the operator's network
(cloud metadata at 169.254.169.254, a database on 10.x, services on 127.0.0.1). An address is
**internal** when it is not globally routable (:attr:`ipaddress.IPv4Address.is_global` false:
loopback, private, link-local, shared/CGNAT, reserved, unspecified) or multicast. Internal
addresses are refused unless they fall in the operator's ``CAIRN_WEBHOOK_ALLOWED_NETWORKS``
(comma-separated CIDRs; the local stack and the tests allow loopback).

The check runs twice: when a rule is created or changed (ingest refuses a URL whose host is an
internal IP literal or a ``localhost`` name, naming the field and rule ``webhook_internal_target``),
and at every delivery on the addresses the host name resolves to, right before connecting, so a
name that resolved to a public address at creation and to an internal one later (DNS rebinding)
is refused then.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from cairn_contract.errors import ConfigError, ValidationError

RULE = "webhook_internal_target"
SETTING = "CAIRN_WEBHOOK_ALLOWED_NETWORKS"
LOOPBACK = "127.0.0.0/8,::1/128"  # what the local stack and the tests allow

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(text: str, name: str = SETTING) -> tuple[Network, ...]:
    """``"127.0.0.0/8, ::1/128"`` -> networks; a bad entry is a ConfigError naming the setting."""
    networks = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError as exc:
            raise ConfigError(
                f"{name}: {part!r} is not a network like 10.0.0.0/8", field=name
            ) from exc
    return tuple(networks)


@dataclass(frozen=True)
class TargetPolicy:
    allowed: tuple[Network, ...] = ()

    @classmethod
    def from_setting(cls, text: str) -> TargetPolicy:
        return cls(parse_networks(text))

    def refusal(self, address: str) -> str | None:
        """Why ``address`` may not be contacted, or ``None`` when it may."""
        ip: Address = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if ip.is_global and not ip.is_multicast:
            return None
        if any(ip.version == n.version and ip in n for n in self.allowed):
            return None
        return (
            f"{ip} is an internal address (loopback, private, link-local or reserved); "
            f"an operator may allow it with {SETTING}"
        )

    def check_addresses(self, host: str, addresses: Iterable[str]) -> str | None:
        """The first refusal among the addresses ``host`` resolved to (all must be allowed)."""
        for address in addresses:
            why = self.refusal(address)
            if why:
                return f"{host} resolves to {why}"
        return None

    def check_url(self, url: str, path: str) -> None:
        """At rule creation: refuse an internal IP literal or a ``localhost`` name in ``url``
        (host names are checked on their resolved addresses at delivery)."""
        host = (urlsplit(url).hostname or "").rstrip(".").lower()
        literal = _literal(host)
        if literal is None and (host == "localhost" or host.endswith(".localhost")):
            literal = "127.0.0.1"
        why = self.refusal(literal) if literal is not None else None
        if why:
            raise ValidationError(
                f"{path}: {url[:80]!r} points at {why} (rule {RULE})", field=path, rule=RULE
            )


def _literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None
