"""Whether a team or a person exists, and who administers a team: the portal's checks before it
shares something or hands it over (docs/permissions.md, P4 and P5).

A team exists once ``team_created`` was projected or someone joined it; a person once they joined any team (the
users file of a local portal adds its own people, which the portal checks itself). These answer
yes/no questions about names only, never rows of another team, so they are not filtered by the
caller's visibility.
"""

from __future__ import annotations

from clickhouse_connect.driver.client import Client

from query import _execute
from query.sql import quote_identifier as q


def _db(client: Client, database: str | None) -> str:
    return database or client.database or "default"


def team_exists(client: Client, team: str, *, database: str | None = None) -> bool:
    """True once the team was created or anyone joined it."""
    db = q(_db(client, database))
    sql = (
        f"SELECT (SELECT count() FROM {db}.{q('teams')} WHERE team = {{team:String}})"
        f" + (SELECT count() FROM {db}.{q('memberships')} WHERE team = {{team:String}}) AS n"
    )
    return bool(_execute.rows(client, sql, {"team": team})[0]["n"])


def user_exists(client: Client, user_id: str, *, database: str | None = None) -> bool:
    sql = (
        f"SELECT count() AS n FROM {q(_db(client, database))}.{q('memberships')}"
        " WHERE user_id = {user:String} AND action = 'joined'"
    )
    return bool(_execute.rows(client, sql, {"user": user_id})[0]["n"])


def team_admins(client: Client, team: str, *, database: str | None = None) -> frozenset[str]:
    """The active members of ``team`` whose current role is admin."""
    sql = f"""
SELECT user_id FROM (
    SELECT user_id, argMax(action, (occurred_at, event_id)) AS last_action,
        argMaxIf(role, (occurred_at, event_id), action = 'joined') AS last_role
    FROM {q(_db(client, database))}.{q("memberships")}
    WHERE team = {{team:String}}
    GROUP BY user_id
) WHERE last_action = 'joined' AND last_role = 'admin'
"""
    return frozenset(str(r["user_id"]) for r in _execute.rows(client, sql, {"team": team}))
