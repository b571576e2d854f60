"""What the portal benchmark adds to the query benchmark's synthetic store: the rows every page
needs that :mod:`bench.query_scale` does not make (it measures queries, not pages).

Generated like the rest of the store, with ``INSERT ... SELECT`` from the run source straight
into the projection tables, in the shapes the processors write:

- **sweeps**: the newest run of each project is a sweep (tag ``cairn.sweep.role = sweep`` and
  the ``sweep.*`` params of :mod:`cairn_contract.sweep_record`: objective ``val_acc``
  maximised over ``lr``, ``batch_size``, ``dropout`` and ``optimizer``), and the project's
  100 runs before it are its trials (``parent_run_id``/``sweep_id``, trial number and state
  tags), so a sweep has 100 trials whose params and metrics are the runs' own;
- **people**: 50 members (``user-00`` .. ``user-49``, two teams each, the run owners); the last
  ten have left one of their teams, so their runs there are orphaned (Handover);
- **projects and teams** with display names and descriptions, project notes, 10 project
  comments and 5 decisions per project (a fifth of the comments mention ``user-00``);
- **ownership transfers**: one in fifty runs handed over (a tenth of them to ``user-00``);
- **automations**: 5 rules per team and 500 deliveries per team, and 100 rule items in
  ``user-00``'s inbox.

The portal benchmark signs in as ``user-00``: a member of every team whose inbox holds
mentions, handovers, failed runs, alias moves and rule items.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from clickhouse_connect.driver.client import Client

from bench.query_scale import PROJECTS, TEAMS, Shape, _qualifier, _runs_source, run_id_sql
from cairn_contract import sweep_record as record
from query.sql import quote_identifier as q

USER = "user-00"
TRIALS = 100  # per sweep
MEMBERS = 50  # user-00 .. user-49, the runs' owners
LEFT_FROM = 40  # user-40 .. user-49 have left their second team
RULES_PER_TEAM = 5
DELIVERIES_PER_TEAM = 500
INBOX_ITEMS = 100
MARKER = "portal-bench-extras"  # the event id of the row that says the extras are loaded

SPACE = record.space_json(
    {
        "lr": {"type": "float", "low": 1e-5, "high": 0.1, "log": True, "step": None},
        "batch_size": {"type": "int", "low": 32, "high": 256, "log": False, "step": 32},
        "dropout": {"type": "float", "low": 0.0, "high": 0.4, "log": False, "step": None},
        "optimizer": {"type": "categorical", "choices": ["adam", "sgd", "adamw"]},
    }
)


def sweep_run_numbers(shape: Shape) -> list[int]:
    """The run numbers that are sweeps: each project's newest run."""
    return list(range(max(0, shape.runs - PROJECTS), shape.runs))


def sweep_ids(shape: Shape) -> list[str]:
    return [f"run-{n:05d}" for n in sweep_run_numbers(shape)]


def _text(value: str) -> str:
    """A ClickHouse string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _statements(db: str, shape: Shape) -> list[tuple[str, str]]:
    t = _qualifier(db)
    runs = _runs_source(shape)
    first_sweep = max(0, shape.runs - PROJECTS)
    # The sweep a run is a trial of: the newest run of its project, when the run is among the
    # TRIALS runs of the project before it (run numbers of a project step by PROJECTS).
    sweep_of = f"{first_sweep} + i % {PROJECTS}"
    trial = f"intDiv({sweep_of} - i, {PROJECTS}) - 1"  # 0 for the run just before the sweep
    is_trial = f"i < {first_sweep} AND {trial} < {TRIALS}"
    later = "20 AS sequence, fromUnixTimestamp64Nano(created_ns) AS occurred_at"
    definition = [
        (record.STUDY_PARAM, "string", "concat(project, '-study')"),
        (record.SAMPLER_PARAM, "string", "'TPESampler'"),
        (record.PRUNER_PARAM, "string", "'NopPruner'"),
        (record.OBJECTIVES_PARAM, "string", _text(json.dumps(["val_acc"]))),
        (record.DIRECTIONS_PARAM, "string", _text(json.dumps(["maximize"]))),
        (record.N_TRIALS_PARAM, "int", f"'{TRIALS}'"),
        (record.SPACE_PARAM, "string", _text(SPACE)),
    ]
    params = ", ".join(f"({_text(k)}, {_text(kind)}, {v})" for k, kind, v in definition)
    project_name = "concat('Project ', toString(n))"
    return [
        (
            "sweep runs",
            f"""
INSERT INTO {t("params")} (run_id, key, value_type, value, value_number, sequence, occurred_at, event_id)
SELECT run_id, p.1, p.2, p.3, nan, {later}, concat(run_id, '-sweep-params')
FROM ({runs}) ARRAY JOIN [{params}] AS p
WHERE i >= {first_sweep}
""",
        ),
        (
            "sweep tags",
            f"""
INSERT INTO {t("tags")} (run_id, key, value, removed, sequence, occurred_at, event_id)
SELECT run_id, g.1, g.2, false, {later}, concat(run_id, '-sweep-tags')
FROM (SELECT *, {trial} AS trial FROM ({runs}))
ARRAY JOIN if(i >= {first_sweep}, [({_text(record.ROLE_TAG)}, {_text(record.ROLE_SWEEP)})],
    [({_text(record.ROLE_TAG)}, {_text(record.ROLE_TRIAL)}),
     ({_text(record.TRIAL_TAG)}, toString(trial)),
     ({_text(record.STATE_TAG)}, multiIf(status = 'failed', 'failed', status = 'running',
        'running', 'complete'))]) AS g
WHERE i >= {first_sweep} OR ({is_trial})
""",
        ),
        (
            "sweep trials",
            f"""
INSERT INTO {t("run_fields")} (run_id, field, value, sequence, occurred_at, event_id)
SELECT run_id, f, {run_id_sql(sweep_of)}, {later}, concat(run_id, '-trial-', f)
FROM ({runs}) ARRAY JOIN ['parent_run_id', 'sweep_id'] AS f
WHERE {is_trial}
""",
        ),
        (
            "members",
            f"""
INSERT INTO {t("memberships")} (team, user_id, action, display_name, email, role, reason, actor,
    sequence, occurred_at, event_id)
SELECT concat('team-', toString(m.1)), user_id, m.2, concat('Person ', toString(k)),
    concat(user_id, '@example.com'), 'member', '', 'admin', m.3, toDateTime64('2025-06-01', 9),
    concat(user_id, '-', toString(m.1), '-', m.2)
FROM (SELECT number AS k, concat('user-', leftPad(toString(k), 2, '0')) AS user_id
      FROM numbers({MEMBERS}))
ARRAY JOIN arrayConcat(
    if(k = 0, [(0, 'joined', 1), (1, 'joined', 1), (2, 'joined', 1), (3, 'joined', 1)],
        [(k % 2, 'joined', 1), (k % 2 + 2, 'joined', 1)]),
    if(k >= {LEFT_FROM}, [(k % 2 + 2, 'left', 2)], [])) AS m
""",
        ),
        (
            "teams and projects",
            f"""
INSERT INTO {t("projects")} (team, project, display_name, description, actor, sequence,
    occurred_at, event_id)
SELECT concat('team-', toString((n % {PROJECTS}) % {TEAMS})),
    concat('proj-', leftPad(toString(n), 2, '0')), {project_name},
    concat('Synthetic project ', toString(n), ': **5 metrics**, 500 runs, a sweep and a model.'),
    'user-00', 1, toDateTime64('2025-06-01', 9), concat('project-', toString(n))
FROM (SELECT number AS n FROM numbers({PROJECTS}))
""",
        ),
        (
            "project notes",
            f"""
INSERT INTO {t("project_notes")} (team, project, body_markdown, actor, sequence, occurred_at,
    event_id)
SELECT concat('team-', toString(n % {TEAMS})), concat('proj-', leftPad(toString(n), 2, '0')),
    concat('## Where things stand\\n\\n', arrayStringConcat(arrayMap(x -> concat('- item ',
        toString(x), ': the baseline holds, the sweep found a better lr'), range(30)), '\\n')),
    'user-01', 1, toDateTime64('2026-01-01', 9), concat('notes-', toString(n))
FROM (SELECT number AS n FROM numbers({PROJECTS}))
""",
        ),
        (
            "project comments",
            f"""
INSERT INTO {t("comments")} (comment_id, action, target_kind, target_id, team, project, author,
    body_markdown, anchor_metric, anchor_step_min, anchor_step_max, reply_to, mentions, reason,
    sequence, occurred_at, event_id)
SELECT concat('pc-', toString(n)), 'added', 'project', project, team, project,
    concat('user-', leftPad(toString(1 + n % 49), 2, '0')),
    if(n % 5 = 0, concat('@{USER} please look at run ', toString(n)), 'the lr sweep converged'),
    '', 0, 0, '', if(n % 5 = 0, ['{USER}'], []), '', 1,
    toDateTime64('2026-01-01', 9) + toIntervalHour(n), concat('pc-', toString(n), '-added')
FROM (SELECT number AS n, concat('proj-', leftPad(toString(n % {PROJECTS}), 2, '0')) AS project,
      concat('team-', toString((n % {PROJECTS}) % {TEAMS})) AS team
      FROM numbers({PROJECTS * 10}))
""",
        ),
        (
            "decisions",
            f"""
INSERT INTO {t("decisions")} (decision_id, target_kind, target_id, team, project, author, title,
    body_markdown, run_ids, sequence, occurred_at, event_id)
SELECT concat('dec-', toString(n)), 'project', project, team, project, 'user-01',
    concat('Decision ', toString(n)), 'Ship the best trial: it beats the baseline by **2 points**.',
    [{run_id_sql("n")}], 1, toDateTime64('2026-02-01', 9) + toIntervalHour(n),
    concat('dec-', toString(n))
FROM (SELECT number AS n, concat('proj-', leftPad(toString(n % {PROJECTS}), 2, '0')) AS project,
      concat('team-', toString((n % {PROJECTS}) % {TEAMS})) AS team
      FROM numbers({PROJECTS * 5}))
""",
        ),
        (
            "ownership transfers",
            f"""
INSERT INTO {t("ownership")} (target_kind, target_id, team, project, from_user, to_user, reason,
    actor, sequence, occurred_at, event_id)
SELECT 'run', run_id, team, project, owner, if(i % 500 = 45, '{USER}', 'user-05'),
    'leaving the team', 'user-01', {later}, concat(run_id, '-handover')
FROM ({runs}) WHERE i % 50 = 45
""",
        ),
        (
            "automation rules",
            f"""
INSERT INTO {t("rules")} (team, rule, rule_id, action, trigger, condition, rule_project,
    stalled_after_s, targets, reason, actor, sequence, occurred_at, event_id)
SELECT concat('team-', toString(intDiv(n, {RULES_PER_TEAM}))),
    concat('rule-', toString(n % {RULES_PER_TEAM})), concat('rule-id-', toString(n)), 'created',
    'run.failed', if(n % 2 = 0, 'metrics.loss > 10', ''), '', 0,
    [concat('inbox {USER}')], '', 'user-01', 1, toDateTime64('2026-01-01', 9),
    concat('rule-', toString(n))
FROM (SELECT number AS n FROM numbers({TEAMS * RULES_PER_TEAM}))
""",
        ),
        (
            "automation deliveries",
            f"""
INSERT INTO {t("deliveries")} (delivery_id, team, rule, trigger, event_id, action_kind, target,
    attempt, status, http_status, error, text, attempted_at)
SELECT concat('delivery-', toString(n)), concat('team-', toString(n % {TEAMS})),
    concat('rule-', toString(n % {RULES_PER_TEAM})), 'run.failed',
    concat('event-', toString(n)), 'inbox', '{USER}', 1, 'delivered', 0, '',
    concat('run exp-', toString(n), ' failed'),
    toDateTime64('2026-01-01', 9) + toIntervalMinute(n)
FROM (SELECT number AS n FROM numbers({TEAMS * DELIVERIES_PER_TEAM}))
""",
        ),
        (
            "rule inbox items",
            f"""
INSERT INTO {t("inbox")} (user_id, team, item_id, rule, trigger, text, subject, occurred_at)
SELECT '{USER}', concat('team-', toString(n % {TEAMS})), concat('delivery-', toString(n)),
    concat('rule-', toString(n % {RULES_PER_TEAM})), 'run.failed',
    concat('run exp-', toString(n), ' failed'), '{{}}',
    toDateTime64('2026-01-01', 9) + toIntervalMinute(n)
FROM (SELECT number AS n FROM numbers({INBOX_ITEMS}))
""",
        ),
        (
            "marker",
            f"""
INSERT INTO {t("teams")} (team, display_name, description, actor, sequence, occurred_at, event_id)
SELECT concat('team-', toString(number)), concat('Team ', toString(number)), '', 'admin', 1,
    toDateTime64('2025-06-01', 9), if(number = 0, '{MARKER}', concat('team-', toString(number)))
FROM numbers({TEAMS})
""",
        ),
    ]


def has_extras(client: Client, database: str) -> bool:
    found = client.query(
        f"SELECT count() FROM {q(database)}.teams WHERE event_id = {{marker:String}}",
        parameters={"marker": MARKER},
    ).result_rows[0][0]
    return bool(found)


def load_extras(client: Client, database: str, shape: Shape, log: Callable[[str], None]) -> None:
    """Add the portal's rows to a store :func:`bench.query_scale.load` filled."""
    for label, sql in _statements(database, shape):
        started = time.monotonic()
        client.command(sql, settings={"max_insert_threads": 2, "max_threads": 2})
        log(f"  loaded {label:<32} {time.monotonic() - started:6.1f} s")
