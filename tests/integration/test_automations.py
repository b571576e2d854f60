"""Automations through the real stack: ingest, Kafka, the processors worker, ClickHouse, a local
HTTP receiver and a local SMTP server (aiosmtpd), with rules created by ``cairn automations``.

The worker runs with short intervals (backoff 0.2 s, stall checks every 0.5 s) so the module takes
well under a minute once the stack is up.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import io
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import closing, redirect_stdout
from dataclasses import dataclass, field
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from unittest import mock

import grpc
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiosmtpd.controller import Controller

from cairn_contract.errors import AuthenticationError, PermissionDeniedError, ValidationError
from cairn_contract.ids import new_uuid7
from cairn_contract.v1 import (
    collaboration_pb2,
    envelope_pb2,
    events_pb2,
    ingest_pb2_grpc,
    models_pb2,
    runs_pb2,
)
from domain.automations import inbox_read_event
from domain.webhook_targets import LOOPBACK
from ingest.keys import issue_key_directly
from localstack import automations_cli, processes
from query import automations as automation_reads
from query.access import Caller
from query.migrations import apply_migrations, drop_database
from query.reporting_schema import reporting_database
from servicekit import topics
from servicekit.secret_box import new_key
from tests.docs.literate import sections
from tests.integration.conftest_clickhouse import ClickHouseEndpoint
from tests.integration.processors_harness import REPO_ROOT, Topics, Worker, create_topics, store
from tests.sdk.integration.conftest import TEAM, IngestProcess, Stack, _read_topic

pytestmark = pytest.mark.integration

SECRET = "receiver-secret"  # the rules' webhook signing secret in these tests
SECRET_KEY = new_key()  # the operator's key that seals webhook secrets (ingest and processors)


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """A local webhook receiver: records every POST; ``script[path]`` lists statuses to answer
    in turn (then 200); ``hold[path]`` seconds to wait before answering the first request."""

    server: ThreadingHTTPServer
    requests: list[Request] = field(default_factory=list)
    script: dict[str, list[int]] = field(default_factory=dict)
    hold: dict[str, float] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def at(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]


def _receiver() -> Receiver:
    receiver: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            receiver.requests.append(Request(self.path, dict(self.headers), body, time.monotonic()))
            wait = receiver.hold.pop(self.path, 0.0)
            if wait:
                time.sleep(wait)
            statuses = receiver.script.get(self.path) or []
            status = statuses.pop(0) if statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver = Receiver(server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@dataclass
class Setup:
    stack: Stack
    ingest: IngestProcess
    worker: Worker
    url: str
    receiver: Receiver
    mailbox: Mailbox
    home: Path

    def env(self, project: str) -> dict[str, str]:
        return {
            **os.environ,
            "HOME": str(self.home),
            "CAIRN_HOME": str(self.home / "stack"),
            "CAIRN_INGEST_URL": self.ingest.address,
            "CAIRN_API_KEY": self.stack.api_key,
            "CAIRN_TEAM": TEAM,
            "CAIRN_PROJECT": project,
            "CAIRN_DIR": str(self.home / "cairn-home"),
            "CAIRN_MODE": "online",
            "CAIRN_CAPTURE_OFF": "git,environment,packages,gpu,command,system_metrics",
            "CAIRN_LOCAL_STACK_FILE": str(self.home / "no-local-stack.json"),
            "PYTHONPATH": str(REPO_ROOT),
        }

    def cli(self, *args: str, **env: str) -> str:
        """``cairn automations ARGS`` in this process (the verbs' own parser; starting the
        ``cairn`` console script loads every plugin, which costs seconds per call). The
        environment has no ClickHouse URL: the CLI reads through the query service."""
        parser = argparse.ArgumentParser(prog="cairn")
        automations_cli.register(parser.add_subparsers(dest="command", required=True))
        parsed = parser.parse_args(["automations", *args])
        out = io.StringIO()
        with mock.patch.dict(os.environ, self.env("x") | env, clear=True), redirect_stdout(out):
            assert parsed.func(parsed) == 0
        return out.getvalue()

    def rows(self, sql: str, **parameters: Any) -> list[tuple[Any, ...]]:
        client = store(self.url)
        try:
            return [tuple(r) for r in client.query(sql, parameters=parameters).result_rows]
        finally:
            client.close()

    def add_rule(self, *args: str) -> None:
        self.cli("add", *args)
        name = args[args.index("--name") + 1]
        wait_for(lambda: self.rows("SELECT 1 FROM rules_current WHERE rule = {n:String}", n=name))

    def train(self, project: str, body: str) -> subprocess.CompletedProcess[str]:
        script = "import math, time\nimport cairn\n" + textwrap.dedent(body)
        return subprocess.run(
            [sys.executable, "-c", script],
            env=self.env(project),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def append(self, *events: events_pb2.Event, key: str = "") -> None:
        with grpc.insecure_channel(self.ingest.address) as channel:
            ingest_pb2_grpc.IngestStub(channel).Append(
                events_pb2.EventBatch(events=list(events)),
                metadata=(("authorization", f"Bearer {key or self.stack.api_key}"),),
                timeout=30,
            )


def _accepted(setup: Setup, key: str, event: events_pb2.Event) -> bool:
    """Append with ``key``; False while ingest does not know the new key yet."""
    try:
        setup.append(event, key=key)
    except grpc.RpcError as exc:
        if exc.code() is grpc.StatusCode.UNAUTHENTICATED:
            return False
        raise
    return True


def wait_for(check: Any, timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{what} not reached within {timeout}s")


def verified(request: Request) -> dict[str, Any]:
    """The body, after checking its signature exactly as docs/automations.md tells receivers."""
    expected = "sha256=" + hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["X-Cairn-Signature"], expected)
    body: dict[str, Any] = json.loads(request.body)
    return body


@pytest.fixture(scope="module")
def setup(
    kafka_bootstrap: str,
    clickhouse_endpoint: ClickHouseEndpoint,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Setup]:

    names = Topics.unique()
    home = tmp_path_factory.mktemp("automations")

    async def prepare() -> str:
        await create_topics(kafka_bootstrap, names)
        return await issue_key_directly(
            kafka_bootstrap, team=TEAM, role="writer", topic=names.identity
        )

    stack = Stack(kafka_bootstrap, names.events, names.identity, asyncio.run(prepare()))
    database = f"a_{uuid.uuid4().hex[:10]}"
    with closing(store(f"{clickhouse_endpoint.url}/default")) as admin:
        apply_migrations(admin, database)
    url = f"{clickhouse_endpoint.url}/{database}"
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=processes.free_port())
    smtp.start()
    receiver = _receiver()
    # The receivers run on 127.0.0.1: this stack allows loopback webhooks (nothing else internal).
    automations_env = {
        "CAIRN_AUTOMATIONS_SECRET_KEY": SECRET_KEY,
        "CAIRN_WEBHOOK_ALLOWED_NETWORKS": LOOPBACK,
    }
    server = stack.ingest(home, clickhouse_url=url)  # serves the query service too
    server.extra_env = automations_env
    server.start()
    worker = Worker(kafka_bootstrap, url, names, home, f"g-{database}")
    worker.env |= {
        "CAIRN_DELIVERY_BACKOFF_S": "0.2",
        "CAIRN_DELIVERY_ATTEMPTS": "5",
        "CAIRN_DELIVERY_TIMEOUT_S": "10",
        "CAIRN_STALL_CHECK_INTERVAL_S": "0.5",
        "CAIRN_RULES_RELOAD_INTERVAL_S": "0.5",
        "CAIRN_SMTP_HOST": "127.0.0.1",
        "CAIRN_SMTP_PORT": str(smtp.port),
        "CAIRN_SMTP_FROM": "cairn@example.com",
        **automations_env,
    }
    worker.start()
    try:
        yield Setup(stack, server, worker, url, receiver, mailbox, home)
    finally:
        worker.stop()
        server.stop()
        receiver.server.shutdown()
        receiver.server.server_close()
        smtp.stop()
        with closing(store(f"{clickhouse_endpoint.url}/default")) as admin:
            drop_database(admin, database)


def test_a_failing_training_script_gets_one_signed_post_within_5_s(setup: Setup) -> None:
    setup.add_rule(
        "--name",
        "failures",
        "--on",
        "run.failed",
        "--project",
        "fails",
        "--webhook",
        setup.receiver.url("/failed"),
        "--secret",
        SECRET,
    )
    done = setup.train("fails", "run = cairn.init(name='diverges')\nraise RuntimeError('boom')\n")
    assert done.returncode == 1, done.stderr
    ended = time.monotonic()
    (request,) = wait_for(lambda: setup.receiver.at("/failed"), timeout=5.0, what="POST")
    assert request.at - ended < 5.0
    body = verified(request)
    assert body["trigger"] == "run.failed"
    assert body["rule"] == {"team": TEAM, "name": "failures"}
    assert body["subject"]["name"] == "diverges"
    assert "boom" in body["text"]
    assert request.headers["X-Cairn-Delivery"] == body["delivery_id"]
    time.sleep(1.0)
    assert len(setup.receiver.at("/failed")) == 1
    log = wait_for(
        lambda: setup.rows("SELECT status, attempts FROM delivery_log WHERE rule = 'failures'")
    )
    assert log == [("delivered", 1)]
    listed = setup.cli("deliveries", "failures")
    assert body["delivery_id"] in listed
    assert "delivered" in listed


def test_nan_loss_fires_metric_threshold_once(setup: Setup) -> None:
    setup.add_rule(
        "--name",
        "nan-loss",
        "--on",
        "metric.threshold",
        "--project",
        "nan",
        "--where",
        "metrics.loss > 10 or isnan(metrics.loss)",
        "--webhook",
        setup.receiver.url("/nan"),
        "--secret",
        SECRET,
    )
    done = setup.train(
        "nan",
        """
        run = cairn.init(name='nan')
        for step in range(5):
            run.log({'loss': 1.0 / (step + 1)}, step=step)
        for step in range(5, 40):
            run.log({'loss': math.nan}, step=step)
            if step % 5 == 0:
                time.sleep(0.3)
        run.finish()
        """,
    )
    assert done.returncode == 0, done.stderr
    (request,) = wait_for(lambda: setup.receiver.at("/nan"), what="metric.threshold POST")
    assert verified(request)["trigger"] == "metric.threshold"
    time.sleep(2.0)
    assert len(setup.receiver.at("/nan")) == 1


def test_a_sigstopped_run_triggers_run_stalled(setup: Setup) -> None:
    setup.add_rule(
        "--name",
        "stuck",
        "--on",
        "run.stalled",
        "--project",
        "stall",
        "--minutes",
        "0.05",
        "--webhook",
        setup.receiver.url("/stalled"),
        "--secret",
        SECRET,
    )
    script = "import cairn, time\nrun = cairn.init(name='stuck')\nrun.log({'loss': 1.0}, step=0)\n"
    script += "print('logged', flush=True)\ntime.sleep(120)\n"
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        env=setup.env("stall"),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == b"logged"
        wait_for(
            lambda: setup.rows(
                "SELECT 1 FROM metric_points p JOIN runs r USING run_id WHERE r.project = 'stall'"
            ),
            what="the run's first point in the store",
        )
        os.killpg(process.pid, signal.SIGSTOP)
        stopped = time.monotonic()
        (request,) = wait_for(lambda: setup.receiver.at("/stalled"), what="run.stalled POST")
        body = verified(request)
        assert body["trigger"] == "run.stalled"
        assert body["subject"]["name"] == "stuck"
        assert body["subject"]["silent_s"] >= 3.0  # not before the configured 0.05 minutes
        assert request.at - stopped < 15.0
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def _event(
    kind: str, aggregate_kind: int, aggregate_id: str, project: str = ""
) -> events_pb2.Event:
    return events_pb2.Event(
        envelope=envelope_pb2.Envelope(
            event_id=new_uuid7(),
            schema_version=1,
            aggregate_kind=aggregate_kind,
            aggregate_id=aggregate_id,
            occurred_at_ns=time.time_ns(),
            team=TEAM,
            project=project,
        )
    )


def test_moving_production_triggers_model_alias_set(setup: Setup) -> None:
    setup.add_rule(
        "--name",
        "prod-moves",
        "--on",
        "model.alias_set",
        "--where",
        "tags.alias = 'production'",
        "--webhook",
        setup.receiver.url("/alias"),
        "--secret",
        SECRET,
    )
    model = f"m-{uuid.uuid4().hex[:8]}"
    kind = envelope_pb2.AGGREGATE_KIND_MODEL
    registered = _event("model_registered", kind, model)
    registered.model_registered.name = "churn-model"
    staging = _event("model_alias_set", kind, model)
    staging.model_alias_set.CopyFrom(models_pb2.ModelAliasSet(alias="staging", version=1))
    production = _event("model_alias_set", kind, model)
    production.model_alias_set.CopyFrom(models_pb2.ModelAliasSet(alias="production", version=2))
    setup.append(registered, staging, production)
    (request,) = wait_for(lambda: setup.receiver.at("/alias"), what="alias POST")
    body = verified(request)
    assert body["subject"]["alias"] == "production"
    assert body["subject"]["model"] == "churn-model"
    assert body["subject"]["version"] == "2"
    time.sleep(1.0)
    assert len(setup.receiver.at("/alias")) == 1


def test_a_mention_lands_in_the_inbox_and_email(setup: Setup) -> None:
    setup.add_rule("--name", "mention-mail", "--on", "comment.mention", "--email", "bo@example.com")
    setup.add_rule(
        "--name",
        "mention-inbox",
        "--on",
        "comment.mention",
        "--where",
        "tags.user = 'bo'",
        "--inbox",
        "bo",
    )
    comment = _event("comment_added", envelope_pb2.AGGREGATE_KIND_PROJECT, "talk", project="talk")
    comment.comment_added.CopyFrom(
        collaboration_pb2.CommentAdded(
            comment_id=new_uuid7(), body_markdown="@bo the loss diverged", mentions=["bo"]
        )
    )
    setup.append(comment)
    (mail,) = wait_for(lambda: setup.mailbox.messages, what="email")
    assert mail["To"] == "bo@example.com"
    assert "comment.mention" in mail["Subject"]
    assert "the loss diverged" in mail.get_payload()
    inbox = wait_for(
        lambda: setup.rows("SELECT user_id, trigger, text FROM inbox FINAL WHERE user_id = 'bo'"),
        what="inbox row",
    )
    assert len(inbox) == 1
    assert inbox[0][1] == "comment.mention"
    assert "the loss diverged" in inbox[0][2]
    # The portal's inbox for bo: the mention itself and the rule's item, unread until marked.
    bo = Caller("bo", frozenset({TEAM}))
    client = store(setup.url)
    try:
        # The mention item comes from the comment's projection, the rule item from the delivery
        # agent: two agents, so the mention may land a moment after the rule's item.
        def items_with_mention() -> list[Any]:
            found = automation_reads.inbox(client, bo)
            return found if any(i.kind == "mention" for i in found) else []

        items = wait_for(items_with_mention, what="the mention in bo's inbox")
        kinds = [i.kind for i in items]
        assert kinds.count("mention") == 1
        assert kinds.count("rule") == 1
        assert set(kinds) <= {"mention", "rule", "alias"}  # alias moves of the team's models
        assert not any(i.read for i in items)
        assert automation_reads.unread_count(client, bo) == len(items)

        bo_key = asyncio.run(
            issue_key_directly(
                setup.stack.bootstrap,
                team=TEAM,
                role="writer",
                user_id="bo",
                topic=setup.stack.identity_topic,
            )
        )

        def marks(user_id: str) -> events_pb2.Event:
            item_ids = [i.item_id for i in items]
            return inbox_read_event(
                team=TEAM,
                user_id=user_id,
                item_ids=item_ids,
                now_ns=time.time_ns(),
                event_id=new_uuid7(),
            )

        # Another person (here: a service key) cannot mark bo's items read.
        with pytest.raises(grpc.RpcError) as refused:
            setup.append(marks("bo"))
        assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED
        assert "inbox_owner" in str(refused.value.details())
        wait_for(lambda: _accepted(setup, bo_key, marks("bo")), what="bo's key known to ingest")
        wait_for(lambda: automation_reads.unread_count(client, bo) == 0, what="items read")
        cy = automation_reads.inbox(client, Caller("cy", frozenset({TEAM})))
        assert {i.kind for i in cy} <= {"alias"}  # bo's mention and rule item are bo's alone
        assert not any(i.read for i in cy)  # bo's read marks are bo's alone
    finally:
        client.close()


def test_a_receiver_failing_three_times_gets_the_same_delivery_id_four_times(setup: Setup) -> None:
    setup.receiver.script["/flaky"] = [500, 500, 500]
    setup.add_rule(
        "--name",
        "flaky",
        "--on",
        "run.failed",
        "--project",
        "flaky",
        "--webhook",
        setup.receiver.url("/flaky"),
        "--secret",
        SECRET,
    )
    setup.train("flaky", "cairn.init(name='x')\nraise ValueError('no')\n")
    requests = wait_for(
        lambda: len(setup.receiver.at("/flaky")) >= 4 and setup.receiver.at("/flaky")
    )
    ids = {verified(r)["delivery_id"] for r in requests}
    assert len(ids) == 1
    log = wait_for(
        lambda: setup.rows(
            "SELECT delivery_id, status, attempts FROM delivery_log WHERE rule = 'flaky'"
            " AND status = 'delivered'"
        ),
        what="delivered log row",
    )
    assert log == [(ids.pop(), "delivered", 4)]
    attempts = setup.rows(
        "SELECT attempt, status, http_status FROM deliveries FINAL WHERE rule = 'flaky' ORDER BY attempt"
    )
    assert attempts == [
        (1, "retrying", 500),
        (2, "retrying", 500),
        (3, "retrying", 500),
        (4, "delivered", 200),
    ]
    time.sleep(1.0)
    assert len(setup.receiver.at("/flaky")) == 4


def test_killing_the_processors_mid_delivery_loses_nothing(setup: Setup) -> None:
    setup.receiver.hold["/slow"] = 30.0  # the first request hangs until the worker is gone
    setup.add_rule(
        "--name",
        "slow",
        "--on",
        "run.failed",
        "--project",
        "slow",
        "--webhook",
        setup.receiver.url("/slow"),
        "--secret",
        SECRET,
    )
    setup.train("slow", "cairn.init(name='x')\nraise ValueError('no')\n")
    wait_for(lambda: setup.receiver.at("/slow"), what="first attempt")
    setup.worker.kill()
    setup.worker.start()
    wait_for(
        lambda: setup.rows(
            "SELECT 1 FROM delivery_log WHERE rule = 'slow' AND status = 'delivered'"
        ),
        timeout=90,
        what="delivery after the restart",
    )
    requests = setup.receiver.at("/slow")
    ids = {verified(r)["delivery_id"] for r in requests}
    assert len(ids) == 1
    assert len(requests) == 2  # the cut-off attempt and one redelivery, same delivery_id


def test_cli_reads_show_only_the_keys_teams_through_the_query_service(setup: Setup) -> None:
    """``ls``/``deliveries`` go through the query service with the caller's key: another team's
    key sees none of this team's rules and is refused this team's by name."""
    setup.add_rule("--name", "team-only", "--on", "run.killed", "--inbox", "bo")
    assert "team-only" in setup.cli("ls")

    other = asyncio.run(
        issue_key_directly(
            setup.stack.bootstrap, team="risk", role="writer", topic=setup.stack.identity_topic
        )
    )
    as_risk = {"CAIRN_API_KEY": other, "CAIRN_TEAM": "risk"}
    listed = wait_for(
        lambda: _quiet_cli(setup, as_risk, "ls"), what="the new key known to the query service"
    )
    assert "team-only" not in listed
    with pytest.raises(PermissionDeniedError) as refused:
        setup.cli("ls", "--team", TEAM, **as_risk)
    assert (refused.value.field, refused.value.rule) == ("team", "team_scope")
    with pytest.raises(PermissionDeniedError):
        setup.cli("deliveries", "team-only", "--team", TEAM, **as_risk)


def _quiet_cli(setup: Setup, env: dict[str, str], *args: str) -> str:
    """The CLI's output, or "" while ingest does not know the key yet (identity topic lag)."""
    try:
        return setup.cli(*args, **env) or "(empty)"
    except AuthenticationError:
        return ""


def test_webhook_secrets_are_sealed_in_the_log_and_in_no_table_or_view(setup: Setup) -> None:
    """The secret reaches the receiver's signature, but neither Kafka nor the ClickHouse archive
    (``events.payload``, what admin SQL reads) nor any table or view holds it."""
    secret = f"sealed-{uuid.uuid4().hex}"
    setup.add_rule(
        "--name", "sealed", "--on", "run.killed", "--project", "sealed",
        "--webhook", setup.receiver.url("/sealed"), "--secret", secret,
    )  # fmt: skip
    rule_events = [
        e
        for e in asyncio.run(_read_topic(setup.stack.bootstrap, setup.stack.events_topic))
        if e.WhichOneof("payload") == "rule_created" and e.envelope.aggregate_id == "sealed"
    ]
    (created,) = rule_events
    hook = created.rule_created.definition.actions[0].webhook
    assert hook.secret == ""
    assert len(hook.sealed_secret) > len(secret)
    assert secret.encode() not in hook.sealed_secret
    assert setup.rows(
        "SELECT count() FROM events WHERE event_type = 'rule_created' AND aggregate_id = 'sealed'"
    ) == [(1,)]
    # Every text column of every table and view, the SQL users' reporting views included.
    database = setup.url.rsplit("/", 1)[1]
    text_columns: dict[tuple[str, str], list[str]] = {}
    for db, table, column in setup.rows(
        "SELECT database, table, name FROM system.columns"
        " WHERE database IN ({db:String}, {reporting:String}) AND type LIKE '%String%'",
        db=database,
        reporting=reporting_database(database),
    ):
        text_columns.setdefault((db, table), []).append(column)
    tables = {table for _, table in text_columns}
    assert {"events", "rules_current", "delivery_log", "automation_rules"} <= tables
    for (db, table), columns in text_columns.items():
        listed = ", ".join(f"`{c}`" for c in columns)
        everything = setup.rows(f"SELECT {listed} FROM `{db}`.`{table}`")
        assert secret not in repr(everything), f"{db}.{table}"
    assert setup.rows(
        "SELECT count() FROM events WHERE position(payload, {s:String}) > 0", s=secret
    ) == [(0,)]
    # ... and the processors still sign with it.
    run = _event(
        "run_created", envelope_pb2.AGGREGATE_KIND_RUN, f"r-{uuid.uuid4().hex[:8]}", "sealed"
    )
    run.run_created.name = "to-kill"
    killed = _event(
        "run_status_changed", envelope_pb2.AGGREGATE_KIND_RUN, run.envelope.aggregate_id, "sealed"
    )
    killed.run_status_changed.status = runs_pb2.RUN_STATUS_KILLED
    setup.append(run, killed)
    (request,) = wait_for(lambda: setup.receiver.at("/sealed"), what="run.killed POST")
    expected = "sha256=" + hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["X-Cairn-Signature"], expected)


def test_internal_webhook_targets_are_refused_at_creation(setup: Setup) -> None:
    """Loopback is allowed on this stack (CAIRN_WEBHOOK_ALLOWED_NETWORKS); the cloud metadata
    address, private and link-local ranges are not, whatever the URL's spelling."""
    for url in (
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.7:8080/hook",
        "https://[fd00::1]/hook",
        "http://[::ffff:192.168.1.1]/hook",
    ):
        with pytest.raises(ValidationError) as refused:
            setup.cli("add", "--name", "inside", "--on", "run.failed", "--webhook", url)
        assert refused.value.field == "events[0].rule_created.definition.actions[0].webhook.url"
        assert refused.value.rule == "webhook_internal_target"
        assert "CAIRN_WEBHOOK_ALLOWED_NETWORKS" in refused.value.message
    assert "inside" not in setup.cli("ls")


async def _outbox_keys(bootstrap: str, topic: str) -> list[str]:
    """Every key on the automation outbox topic (one per due notification), in no set order."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p) for p in await topics.partitions_of(bootstrap, topic)
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        keys: list[str] = []
        while [tp for tp in partitions if await consumer.position(tp) < end[tp]]:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                keys.extend(r.key.decode() for r in records if r.key)
        return keys
    finally:
        await consumer.stop()


def _outbox(setup: Setup) -> list[str]:
    topic = setup.worker.env["CAIRN_EVENTS_TOPIC"].replace("events", "automations", 1)
    return asyncio.run(_outbox_keys(setup.stack.bootstrap, topic))


def test_a_restart_keeps_stall_timers_and_threshold_crossings(setup: Setup) -> None:
    """Per-run state survives a processors restart: a run that went silent before the restart
    still stalls (exactly one POST), and a threshold crossed before it is not due again (exactly
    one POST and one outbox record) although the run keeps logging NaN afterwards."""
    setup.add_rule(
        "--name", "restart-stall", "--on", "run.stalled", "--project", "restart",
        "--minutes", "0.5", "--webhook", setup.receiver.url("/restart-stall"), "--secret", SECRET,
    )  # fmt: skip
    setup.add_rule(
        "--name", "restart-nan", "--on", "metric.threshold", "--project", "restart",
        "--where", "isnan(metrics.loss)", "--webhook", setup.receiver.url("/restart-nan"),
        "--secret", SECRET,
    )  # fmt: skip
    script = (
        "import cairn, math, sys, time\nrun = cairn.init(name='quiet')\n"
        "run.log({'loss': math.nan}, step=0)\nprint('logged', flush=True)\n"
        "sys.stdin.readline()\nrun.log({'loss': math.nan}, step=1)\n"
        "print('again', flush=True)\ntime.sleep(600)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script], env=setup.env("restart"), stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        assert process.stdin is not None
        assert process.stdout is not None
        assert process.stdout.readline().strip() == b"logged"
        wait_for(
            lambda: setup.rows(
                "SELECT 1 FROM metric_points p JOIN runs r USING run_id WHERE r.project = 'restart'"
            ),
            what="the run's first point in the store",
        )
        os.killpg(process.pid, signal.SIGSTOP)  # no heartbeats either: the run is silent
        (first,) = wait_for(lambda: setup.receiver.at("/restart-nan"), what="threshold POST")
        nan_id = verified(first)["delivery_id"]
        time.sleep(4.0)  # the worker commits its offsets: the restart does not replay the run
        setup.worker.kill()
        setup.worker.start()
        # The run was silent across the restart: the new worker knows it only from the store.
        (stalled,) = wait_for(
            lambda: setup.receiver.at("/restart-stall"), timeout=120, what="stall after restart"
        )
        assert verified(stalled)["subject"]["name"] == "quiet"
        # A new NaN point after the restart: the crossing is remembered, nothing new is due.
        os.killpg(process.pid, signal.SIGCONT)
        process.stdin.write(b"go\n")
        process.stdin.flush()
        assert process.stdout.readline().strip() == b"again"
        wait_for(
            lambda: setup.rows(
                "SELECT 1 FROM metric_points p JOIN runs r USING run_id"
                " WHERE r.project = 'restart' AND p.step = 1"
            ),
            what="the second point in the store",
        )
        time.sleep(2.0)
        assert len(setup.receiver.at("/restart-nan")) == 1
        assert _outbox(setup).count(nan_id) == 1
        assert len(setup.receiver.at("/restart-stall")) == 1
    finally:
        setup.cli("pause", "restart-stall")  # the killed run would stall again later
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                pipe.close()


def test_rules_reach_every_worker_of_the_group(setup: Setup) -> None:
    """With two workers sharing the events topic's partitions, a rule created while both run
    notifies about runs on every partition: exactly one POST per run."""
    env = setup.worker.env
    names = Topics(
        env["CAIRN_EVENTS_TOPIC"], env["CAIRN_IDENTITY_TOPIC"], env["CAIRN_DEAD_LETTER_TOPIC"]
    )
    home = setup.home / "second-worker"
    home.mkdir()
    second = Worker(setup.stack.bootstrap, setup.url, names, home, env["CAIRN_PROCESSORS_GROUP"])
    own = ("CAIRN_PROCESSORS_PORT", "CAIRN_PROCESSORS_DATA_DIR")
    second.env |= {k: v for k, v in env.items() if k.startswith("CAIRN_") and k not in own}
    second.start()
    try:
        time.sleep(8.0)  # the group rebalances: each worker owns some of the 3 partitions
        setup.add_rule(
            "--name", "spread", "--on", "run.killed", "--project", "spread",
            "--webhook", setup.receiver.url("/spread"), "--secret", SECRET,
        )  # fmt: skip
        time.sleep(2.0)  # both workers re-read the rules (every 0.5 s here)
        runs = [f"spread-{i}-{uuid.uuid4().hex[:6]}" for i in range(9)]
        for run_id in runs:
            created = _event("run_created", envelope_pb2.AGGREGATE_KIND_RUN, run_id, "spread")
            created.run_created.name = run_id
            killed = _event("run_status_changed", envelope_pb2.AGGREGATE_KIND_RUN, run_id, "spread")
            killed.run_status_changed.status = runs_pb2.RUN_STATUS_KILLED
            setup.append(created, killed)
        wait_for(lambda: len(setup.receiver.at("/spread")) >= len(runs), timeout=60, what="9 POSTs")
        time.sleep(2.0)
        bodies = [verified(r) for r in setup.receiver.at("/spread")]
        assert sorted(b["subject"]["run_id"] for b in bodies) == sorted(runs)
        assert len({b["delivery_id"] for b in bodies}) == len(runs)
    finally:
        second.stop()


DOC = REPO_ROOT / "docs" / "automations.md"


def test_the_docs_examples_run_against_the_stack(setup: Setup, tmp_path: Path) -> None:
    """docs/automations.md, section by section, as a reader runs it (literate convention)."""
    examples = [s for s in sections(DOC) if s.runnable]
    assert [s.title for s in examples] == ["Rules from the command line", "Checking the signature"]
    env = {
        **setup.env("docs"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "RECEIVER_URL": setup.receiver.url("/docs"),
        "WEBHOOK_SECRET": SECRET,
    }
    outputs = []
    for section in examples:
        work = tmp_path / re.sub(r"\W+", "-", section.title)
        work.mkdir()
        for n, block in enumerate(section.blocks):
            if block.file is not None:
                (work / block.file).write_text(block.text, encoding="utf-8")
                continue
            if not block.runs:
                continue
            if block.language == "python":
                (work / f"example_{n}.py").write_text(block.text, encoding="utf-8")
                command = [sys.executable, f"example_{n}.py"]
            else:
                command = ["bash", "-euo", "pipefail", "-c", block.text]
            done = subprocess.run(
                command, cwd=work, env=env, capture_output=True, text=True, timeout=240
            )
            assert done.returncode == 0, f"docs/automations.md:{block.line}\n{done.stderr[-3000:]}"
            outputs.append(done.stdout)
    listing, signature = outputs
    assert "diverged" in listing
    assert "mentions-by-mail" in listing
    assert "isnan(metrics.loss)" in listing
    assert "forged body refused" in signature
