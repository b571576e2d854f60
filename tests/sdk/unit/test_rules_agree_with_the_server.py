"""The SDK's call-site checks and the server's validation state the same rules.

The SDK cannot import ``domain`` (it is not shipped with it), so it keeps its own copy of the
limits and formats; these tests fail if the two ever drift apart, which would turn a clear error
at the call site into a rejected batch minutes later.
"""

from __future__ import annotations

import pytest

from cairn import _checks
from cairn.errors import ValidationError
from domain import _field_rules as rules
from domain.limits import Limits


def test_the_limits_are_the_servers() -> None:
    limits = Limits()
    assert (
        limits.max_id_chars,
        limits.max_slug_chars,
        limits.max_key_chars,
        limits.max_config_depth,
        limits.max_name_chars,
        limits.max_text_chars,
        limits.max_param_value_chars,
        limits.max_tag_value_chars,
        limits.max_uri_chars,
        limits.max_markdown_chars,
        limits.max_items_per_list,
    ) == (
        _checks.MAX_ID_CHARS,
        _checks.MAX_SLUG_CHARS,
        _checks.MAX_KEY_CHARS,
        _checks.MAX_CONFIG_DEPTH,
        _checks.MAX_NAME_CHARS,
        _checks.MAX_TEXT_CHARS,
        _checks.MAX_PARAM_VALUE_CHARS,
        _checks.MAX_TAG_VALUE_CHARS,
        _checks.MAX_URI_CHARS,
        _checks.MAX_MARKDOWN_CHARS,
        _checks.MAX_ITEMS_PER_LIST,
    )


@pytest.mark.parametrize(
    ("check", "rule"),
    [
        (_checks.check_key, rules.KEY),
        (_checks.check_slug, rules.SLUG),
        (_checks.check_id, rules.ID),
        (_checks.check_uri, rules.URI),
    ],
)
@pytest.mark.parametrize(
    "value",
    [
        "loss",
        "train/loss",
        "a.b.c",
        "a..b",
        ".a",
        "a.",
        "Loss-1:x",
        "bad key",
        "ünïcode",
        "run-01a2@x+y",
        "_x",
        "s3://bucket/key",
        "file:///data/x y",
        "x" * 300,
        "churn",
    ],
)
def test_formats_accept_and_refuse_the_same_values(
    check: object, rule: rules.TextRule, value: str
) -> None:
    assert rule.pattern is not None
    limit = getattr(Limits(), rule.limit)
    server_accepts = bool(rule.pattern.fullmatch(value)) and len(value) <= limit
    try:
        check(value, "field")  # type: ignore[operator]
        sdk_accepts = True
    except ValidationError:
        sdk_accepts = False
    assert sdk_accepts == server_accepts
