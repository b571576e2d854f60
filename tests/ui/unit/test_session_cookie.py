"""ui.session_cookie: a sign-in cookie verifies only unaltered, unexpired, under the same secret
and password; it names the user and how they signed in, nothing else."""

from __future__ import annotations

import pytest

from cairn_contract.errors import ConfigError
from ui.session_cookie import Session, make_token, read_token, set_script, verify
from ui.settings import PortalSettings

SECRET = "s" * 32
HASH = "scrypt$16384$8$1$c2FsdA==$aGFzaA=="
NOW = 1_800_000_000
DAY = 86_400.0


def _token(user_id: str = "alice", issued: int = NOW) -> str:
    return make_token(SECRET, Session(user_id, "password", issued), HASH)


def test_a_fresh_token_verifies_as_its_user() -> None:
    assert verify(SECRET, _token(), HASH, now=NOW + 5, max_age_s=DAY) == Session(
        "alice", "password", NOW
    )


def test_it_holds_who_and_when_but_no_password() -> None:
    token = _token("o'brien.<x>")
    assert HASH not in token
    assert "aGFzaA" not in token
    assert read_token(token) == Session("o'brien.<x>", "password", NOW)


def test_an_expired_or_future_token_does_not_verify() -> None:
    assert verify(SECRET, _token(), HASH, now=NOW + DAY, max_age_s=DAY) is None
    assert verify(SECRET, _token(issued=NOW + 3600), HASH, now=NOW, max_age_s=DAY) is None


def test_a_tampered_token_does_not_verify() -> None:
    token = _token()
    other = _token("bob")
    swapped = ".".join([*other.split(".")[:-1], token.split(".")[-1]])  # bob with alice's MAC
    later = token.replace(f".{NOW}.", f".{NOW + 999}.")
    flipped = token[:-1] + ("0" if token[-1] != "0" else "1")
    for bad in (swapped, later, flipped, token + "0", "", "v1.x.password.1.zz"):
        assert verify(SECRET, bad, HASH, now=NOW, max_age_s=DAY) is None, bad


def test_another_secret_or_a_changed_password_does_not_verify() -> None:
    assert verify("t" * 32, _token(), HASH, now=NOW, max_age_s=DAY) is None
    assert verify(SECRET, _token(), HASH + "x", now=NOW, max_age_s=DAY) is None
    assert verify("", _token(), HASH, now=NOW, max_age_s=DAY) is None


def test_only_password_sign_ins_are_remembered() -> None:
    with pytest.raises(ValueError, match="api_key"):
        make_token(SECRET, Session("alice", "api_key", NOW), HASH)
    with pytest.raises(ValueError, match="secret"):
        make_token("", Session("alice", "password", NOW), HASH)


def test_the_script_writes_only_a_token() -> None:
    script = set_script(_token(), 3600)
    assert "Max-Age=3600; Path=/; SameSite=Lax" in script
    assert "Max-Age=0" in set_script("", 0)
    with pytest.raises(ValueError, match="not a session token"):
        set_script('x"; alert(1); "', 60)


def test_settings_name_the_field_and_the_rule() -> None:
    with pytest.raises(ConfigError, match="CAIRN_PORTAL_COOKIE_SECRET must be at least 32"):
        PortalSettings.from_env({"CAIRN_PORTAL_COOKIE_SECRET": "short"})
    with pytest.raises(ConfigError, match="CAIRN_PORTAL_SESSION_DAYS must be between"):
        PortalSettings.from_env({"CAIRN_PORTAL_SESSION_DAYS": "0"})
    settings = PortalSettings.from_env({"CAIRN_PORTAL_COOKIE_SECRET": SECRET})
    assert settings.session_days == 7.0
    assert SECRET not in repr(settings)
