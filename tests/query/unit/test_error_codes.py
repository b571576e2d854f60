"""A refused statement keeps ClickHouse's error code: a timeout is a limit, not a bug."""

from __future__ import annotations

from clickhouse_connect.driver.exceptions import DatabaseError

from cairn_contract.errors import ErrorCode, LimitExceededError
from query._execute import QueryFailedError, QueryLimitError, translate

TIMEOUT = (
    "HTTPDriver for http://127.0.0.1:8123 received ClickHouse error code 159\n"
    " Code: 159. DB::Exception: Timeout exceeded: elapsed 5.0 seconds, maximum: 5."
    " (TIMEOUT_EXCEEDED) (version 25.8.1.1)"
)
UNKNOWN_TABLE = (
    "HTTPDriver for http://127.0.0.1:8123 received ClickHouse error code 60\n"
    " Code: 60. DB::Exception: Unknown table expression identifier 'cairn.nope'."
    " (UNKNOWN_TABLE) (version 25.8.1.1)"
)


def test_a_timeout_is_a_limit_with_its_code() -> None:
    error = translate(DatabaseError(TIMEOUT))
    assert isinstance(error, QueryLimitError)
    assert isinstance(error, LimitExceededError)
    assert error.code is ErrorCode.RESOURCE_EXHAUSTED
    assert error.clickhouse_code == 159
    assert error.rule == "TIMEOUT_EXCEEDED"
    assert "Timeout exceeded" in error.message


def test_any_other_refusal_is_internal_and_keeps_the_servers_code() -> None:
    error = translate(DatabaseError(UNKNOWN_TABLE))
    assert isinstance(error, QueryFailedError)
    assert error.code is ErrorCode.INTERNAL
    assert error.clickhouse_code == 60
    assert str(error).startswith("query failed: ")


def test_a_message_without_a_code_says_so() -> None:
    error = translate(DatabaseError("the connection broke mid-answer"))
    assert isinstance(error, QueryFailedError)
    assert error.clickhouse_code is None
