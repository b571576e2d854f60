"""Who a query runs for: the authenticated API key turned into the portal's notion of a caller.

Ingest's interceptor authenticates the key (:class:`domain.identity.AuthenticatedKey`); reads are
scoped by :class:`query.access.Caller` (a user id and teams). The mapping is the portal's for API-key
sign-in (``ui/auth.py``), so a key sees exactly what its holder sees in the portal:

- a person's key reads as that person, with the key's team plus every team the person is an
  active member of (from the same identity topic ingest authenticates against);
- a service key reads as ``service:<key name>`` in its own team only.

Keys never make anyone an admin of every team's rows: an admin *key* administers its team.
"""

from __future__ import annotations

from cairn_contract.v1 import envelope_pb2
from domain.identity import AuthenticatedKey, IdentityRegistry
from query.access import Caller


def teams_of(registry: IdentityRegistry, user_id: str) -> frozenset[str]:
    return frozenset(
        team
        for (team, member), record in registry.members.items()
        if member == user_id and record.active
    )


def query_caller(key: AuthenticatedKey, registry: IdentityRegistry) -> Caller:
    if key.actor_kind == envelope_pb2.ACTOR_KIND_USER:
        return Caller(key.actor_id, frozenset({key.team}) | teams_of(registry, key.actor_id))
    return Caller(f"service:{key.actor_id}", frozenset({key.team}))
