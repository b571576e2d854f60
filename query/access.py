"""Who is asking, and the one SQL fragment that decides what they may see.

A :class:`Caller` sees the rows of their teams' projects, plus whatever was shared with them
(``shares_current`` rows that are active and name the caller, or one of the caller's teams, as
grantee): a whole project (``target_kind = 'project'``, ``target_id`` = the project slug within
the sharing team) or one object (a run, a model). Admins see everything.

:class:`Visibility` renders that rule once, as a boolean SQL expression over column expressions
the query layer chose (never user text), with everything about the caller bound as parameters:
``{caller_teams:Array(String)}``, and the caller's shares, ``{shared_projects:Array(Tuple(String,
String))}`` and ``{shared_objects:Array(Tuple(String, String))}``. The shares are read once per
call by :meth:`Visibility.load` rather than by a subquery inside every statement: a function
that runs five statements (a lineage walk) pays for them once, and each statement's filter is a
plain set lookup. Every read function in ``query/`` builds its WHERE clause from this, so the
rule lives in one place and a test per function proves another team's rows never leak.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from clickhouse_connect.driver.client import Client

from cairn_contract.errors import ValidationError
from query import _execute
from query.sql import quote_identifier as q

CALLER_USER = "caller_user"
CALLER_TEAMS = "caller_teams"
SHARED_PROJECTS = "shared_projects"
SHARED_OBJECTS = "shared_objects"


@dataclass(frozen=True)
class Caller:
    """The person (or service) a query runs for: their user id and the teams they belong to."""

    user_id: str
    teams: frozenset[str] = field(default_factory=frozenset)
    admin: bool = False  # sees every team's rows and deleted comments' bodies

    def __post_init__(self) -> None:
        if not isinstance(self.user_id, str):
            raise ValidationError("Caller.user_id must be a string", field="user_id", rule="type")
        if not isinstance(self.teams, frozenset) or not all(
            isinstance(team, str) for team in self.teams
        ):
            raise ValidationError(
                "Caller.teams must be a frozenset of team slugs", field="teams", rule="type"
            )


_SHARES_SQL = """
SELECT target_kind, target_id, team FROM {shares}
WHERE active AND ((grantee_kind = 'user' AND grantee_id = {{caller_user:String}})
    OR (grantee_kind = 'team' AND has({{caller_teams:Array(String)}}, grantee_id)))
"""


@dataclass(frozen=True)
class Visibility:
    """The visibility rule for one caller against one projection database."""

    caller: Caller
    database: str
    shared_projects: tuple[tuple[str, str], ...] = ()  # (team, project slug)
    shared_objects: tuple[tuple[str, str], ...] = ()  # (target kind, target id)
    inline: bool = False  # shares read by subqueries inside each statement (see ``deferred``)

    @classmethod
    def deferred(cls, caller: Caller, database: str) -> Visibility:
        """The same rule with no round trip of its own: the caller's shares are read by
        subqueries of ``shares_current`` inside the statement that uses :meth:`predicate`
        (ClickHouse builds each ``IN`` set once per statement). For functions that run a single
        statement, where reading the shares first would double the round trips."""
        return cls(caller, database, inline=not caller.admin)

    @classmethod
    def load(cls, client: Client, caller: Caller, database: str | None = None) -> Visibility:
        """The rule for ``caller``, with what is currently shared with them read once."""
        db = database or client.database or "default"
        if caller.admin:
            return cls(caller, db)
        params = {CALLER_USER: caller.user_id, CALLER_TEAMS: sorted(caller.teams)}
        shares = _execute.rows(
            client, _SHARES_SQL.format(shares=f"{q(db)}.{q('shares_current')}"), params
        )
        projects = sorted({(r["team"], r["target_id"]) for r in shares if _is_project(r)})
        objects = sorted({(r["target_kind"], r["target_id"]) for r in shares if not _is_project(r)})
        return cls(caller, db, tuple(projects), tuple(objects))

    @property
    def parameters(self) -> dict[str, Any]:
        if self.inline:
            return {CALLER_USER: self.caller.user_id, CALLER_TEAMS: sorted(self.caller.teams)}
        return {
            CALLER_TEAMS: sorted(self.caller.teams),
            SHARED_PROJECTS: list(self.shared_projects),
            SHARED_OBJECTS: list(self.shared_objects),
        }

    def table(self, name: str) -> str:
        """A fully qualified, quoted name in the projection database."""
        return f"{q(self.database)}.{q(name)}"

    def predicate(
        self,
        team: str,
        project: str,
        *,
        kind: str | None = None,
        object_id: str | None = None,
        objects: Sequence[tuple[str, str]] = (),
    ) -> str:
        """True for rows the caller may see.

        ``team`` and ``project`` are SQL expressions for the row's owning team and project;
        ``kind`` (a constant such as ``'run'``, or an expression) and ``object_id`` name the
        object the row belongs to, for objects shared one by one; ``objects`` lists more such
        (kind, id) pairs (a lineage edge belongs to both its ends). All are written by the
        query layer, never taken from users.
        """
        if self.caller.admin:
            return "1"
        parts = [f"has({{{CALLER_TEAMS}:Array(String)}}, {team})"]
        pairs = list(objects)
        if kind is not None and object_id is not None:
            pairs.insert(0, (kind, object_id))
        if self.inline:
            shares = _SHARES_SQL.format(shares=self.table("shares_current"))
            projects = f"SELECT team, target_id FROM ({shares}) WHERE target_kind = 'project'"
            shared = f"SELECT target_kind, target_id FROM ({shares}) WHERE target_kind != 'project'"
            parts.append(f"({team}, {project}) IN ({projects})")
            parts += [f"({kind_sql}, {id_sql}) IN ({shared})" for kind_sql, id_sql in pairs]
            return "(" + " OR ".join(parts) + ")"
        if self.shared_projects:
            parts.append(
                f"({team}, {project}) IN {{{SHARED_PROJECTS}:Array(Tuple(String, String))}}"
            )
        if self.shared_objects:
            parts += [
                f"({kind_sql}, {id_sql}) IN {{{SHARED_OBJECTS}:Array(Tuple(String, String))}}"
                for kind_sql, id_sql in pairs
            ]
        return "(" + " OR ".join(parts) + ")"

    def run_scope(self, run_filter: str = "1") -> str:
        """A subquery of ``run_id, team, project`` for runs matching ``run_filter`` (an SQL
        condition on ``run_id``), read from ``run_fields`` directly: much cheaper than the
        ``runs`` view when only ownership matters. A run's team and project never change."""
        return (
            "SELECT run_id, anyIf(value, field = 'team') AS team,"
            " anyIf(value, field = 'project') AS project"
            f" FROM {self.table('run_fields')}"
            f" WHERE field IN ('team', 'project') AND ({run_filter})"
            " GROUP BY run_id"
        )

    def visible_runs(self, run_filter: str = "1") -> str:
        """A subquery of the ``run_id`` s the caller may see among those matching ``run_filter``."""
        condition = self.predicate("team", "project", kind="'run'", object_id="run_id")
        return f"SELECT run_id FROM ({self.run_scope(run_filter)}) WHERE {condition}"


def _is_project(share: dict[str, Any]) -> bool:
    return bool(share["target_kind"] == "project")
