"""``cairn key create|list|revoke`` against the real broker, as an operator runs them."""

from __future__ import annotations

import argparse
import asyncio
import re
import uuid

import pytest

from cairn.errors import ValidationError
from ingest.cli import register
from ingest.identity_log import load_identity
from servicekit import topics

pytestmark = pytest.mark.integration


def cairn(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="cairn")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


@pytest.fixture
def identity_topic(kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch) -> str:
    name = f"test.identity.{uuid.uuid4().hex[:10]}"
    asyncio.run(topics.ensure_topics(kafka_bootstrap, [topics.IDENTITY.renamed(name)]))
    monkeypatch.setenv("CAIRN_KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.setenv("CAIRN_IDENTITY_TOPIC", name)
    return name


def test_create_prints_the_key_once_and_list_and_revoke_manage_it(
    identity_topic: str, kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cairn("key", "create", "--team", "nlp", "--role", "writer", "--name", "ci") == 0
    out, err = capsys.readouterr()
    key = out.strip()
    assert re.fullmatch(r"cairn_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", key)
    key_id = key.split("_")[1]
    assert err == f"issued writer key {key_id} for team nlp; it is shown only now\n"

    registry = asyncio.run(load_identity(kafka_bootstrap, identity_topic))
    assert "nlp" in registry.teams  # the team did not exist, so it was created first
    assert key not in str(registry.__dict__)  # only the hash is stored

    assert cairn("key", "list", "--team", "nlp") == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0].split() == [
        "KEY",
        "ID",
        "TEAM",
        "ROLE",
        "NAME",
        "USER",
        "STATUS",
        "ISSUED",
        "(UTC)",
    ]
    assert listing[1].split()[:6] == [key_id, "nlp", "writer", "ci", "-", "active"]

    assert cairn("key", "revoke", key_id, "--reason", "rotated") == 0
    assert (
        capsys.readouterr().out
        == f"revoked key {key_id} of team nlp; ingest rejects it within seconds\n"
    )
    cairn("key", "list")
    assert "revoked: rotated" in capsys.readouterr().out


def test_create_rejects_a_team_that_is_not_a_slug(identity_topic: str) -> None:
    with pytest.raises(ValidationError) as caught:
        cairn("key", "create", "--team", "Not A Slug")
    assert str(caught.value) == (
        "team: 'Not A Slug' is not valid: use lowercase letters, digits, _ and -, "
        "starting with a letter or digit (rule slug_format)"
    )
