"""ClickHouse-style errors for the HTTP endpoint.

Clients (clickhouse-connect, the JDBC/Go drivers, curl users) recognise a ClickHouse error by
the ``X-ClickHouse-Exception-Code`` header and a body of the form
``Code: N. DB::Exception: message. (NAME) (version V)``. Errors raised by the engine already
carry code, message and name in that form and are passed through; errors the endpoint raises
itself (authentication, request shape) use the same codes a ClickHouse server would.

HTTP statuses follow ClickHouse's own mapping (src/Server/HTTP/exceptionCodeToHTTPStatus.cpp,
26.x), keyed by error name so the table reads like the original.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Codes of the errors this endpoint raises itself (ClickHouse's src/Common/ErrorCodes.cpp).
BAD_ARGUMENTS = (36, "BAD_ARGUMENTS")
NOT_IMPLEMENTED = (48, "NOT_IMPLEMENTED")
SYNTAX_ERROR = (62, "SYNTAX_ERROR")
UNKNOWN_FORMAT = (73, "UNKNOWN_FORMAT")
UNKNOWN_SETTING = (115, "UNKNOWN_SETTING")
TOO_MANY_SIMULTANEOUS_QUERIES = (202, "TOO_MANY_SIMULTANEOUS_QUERIES")
ABORTED = (236, "ABORTED")
CANNOT_DECOMPRESS = (271, "CANNOT_DECOMPRESS")
AUTHENTICATION_FAILED = (516, "AUTHENTICATION_FAILED")
UNKNOWN_EXCEPTION = (1002, "UNKNOWN_EXCEPTION")

_STATUS_BY_NAME: dict[str, int] = {
    "REQUIRED_PASSWORD": 401,
    **dict.fromkeys(
        [
            "UNKNOWN_USER",
            "WRONG_PASSWORD",
            "AUTHENTICATION_FAILED",
            "SET_NON_GRANTED_ROLE",
            "ACCESS_DENIED",
        ],
        403,
    ),
    **dict.fromkeys(
        [
            "BAD_ARGUMENTS",
            "CANNOT_COMPILE_REGEXP",
            "CANNOT_PARSE_TEXT",
            "CANNOT_PARSE_ESCAPE_SEQUENCE",
            "CANNOT_PARSE_QUOTED_STRING",
            "CANNOT_PARSE_DATE",
            "CANNOT_PARSE_DATETIME",
            "CANNOT_PARSE_NUMBER",
            "CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING",
            "CANNOT_PARSE_IPV4",
            "CANNOT_PARSE_IPV6",
            "CANNOT_PARSE_INPUT_ASSERTION_FAILED",
            "CANNOT_PARSE_UUID",
            "DUPLICATE_COLUMN",
            "ILLEGAL_COLUMN",
            "UNKNOWN_ELEMENT_IN_AST",
            "UNKNOWN_TYPE_OF_AST_NODE",
            "THERE_IS_NO_COLUMN",
            "TOO_DEEP_AST",
            "TOO_BIG_AST",
            "UNEXPECTED_AST_STRUCTURE",
            "SYNTAX_ERROR",
            "INCORRECT_DATA",
            "TYPE_MISMATCH",
            "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE",
        ],
        400,
    ),
    **dict.fromkeys(
        [
            "UNKNOWN_TABLE",
            "UNKNOWN_FUNCTION",
            "UNKNOWN_IDENTIFIER",
            "UNKNOWN_TYPE",
            "UNKNOWN_STORAGE",
            "UNKNOWN_DATABASE",
            "UNKNOWN_SETTING",
            "UNKNOWN_DIRECTION_OF_SORTING",
            "UNKNOWN_AGGREGATE_FUNCTION",
            "UNKNOWN_FORMAT",
            "UNKNOWN_DATABASE_ENGINE",
            "UNKNOWN_TYPE_OF_QUERY",
            "UNKNOWN_ROLE",
        ],
        404,
    ),
    "QUERY_IS_TOO_LARGE": 413,
    "NOT_IMPLEMENTED": 501,
    "SOCKET_TIMEOUT": 503,
    "CANNOT_OPEN_FILE": 503,
    "HTTP_LENGTH_REQUIRED": 411,
    "TIMEOUT_EXCEEDED": 408,
    "CANNOT_SCHEDULE_TASK": 503,
    "UNSUPPORTED_MEDIA_TYPE": 415,
}

_CODE = re.compile(r"Code: (\d+)\. ")
_VERSION_TAIL = re.compile(r"\s*\(version [^)]*\)\s*$")
_NAME_TAIL = re.compile(r"\(([A-Z][A-Z0-9_]*)\)\s*$")


@dataclass(eq=False)
class ClickHouseError(Exception):
    """An error to report the way a ClickHouse server reports it.

    ``text`` is the exception text without the version trailer, starting with
    ``Code: N. DB::Exception:`` and ending with ``(NAME)``.
    """

    code: int
    name: str
    text: str

    def __str__(self) -> str:
        return self.text

    @classmethod
    def make(cls, kind: tuple[int, str], message: str) -> ClickHouseError:
        code, name = kind
        message = message.rstrip()
        if not message.endswith("."):
            message += "."
        return cls(code, name, f"Code: {code}. DB::Exception: {message} ({name})")

    @property
    def http_status(self) -> int:
        return _STATUS_BY_NAME.get(self.name, 500)

    def body(self, version: str) -> bytes:
        return f"{self.text} (version {version})\n".encode()


def from_engine(exc: BaseException) -> ClickHouseError:
    """The ClickHouse error inside an exception raised by chdb.

    chdb raises RuntimeError whose text is (or ends with) ClickHouse's exception text, sometimes
    behind a prefix of its own ("Failed to create connection: "). Without a code it is reported
    as UNKNOWN_EXCEPTION with the text as message.
    """
    raw = str(exc).strip()
    match = _CODE.search(raw)
    if not match:
        return ClickHouseError.make(UNKNOWN_EXCEPTION, raw or type(exc).__name__)
    text = _VERSION_TAIL.sub("", raw[match.start() :])
    name_match = _NAME_TAIL.search(text)
    name = name_match.group(1) if name_match else "UNKNOWN_EXCEPTION"
    return ClickHouseError(int(match.group(1)), name, text)
