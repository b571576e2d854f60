"""Cairn's one error hierarchy.

Every error carries a machine-readable :class:`ErrorCode`; validation errors also name the field
and the rule that broke. Services translate codes to transport statuses in exactly one table
(``ingest/status_codes.py`` for gRPC); this module stays free of any transport import so the SDK,
the services and pure domain code can all raise and catch the same types.
"""

from __future__ import annotations

from enum import StrEnum

# The ``google.rpc.ErrorInfo.domain`` of every error a Cairn server sends (its ``reason`` is the
# ErrorCode value, its metadata the field and rule).
ERROR_DOMAIN = "cairn"


class ErrorCode(StrEnum):
    INVALID_ARGUMENT = "invalid_argument"  # input broke a validation rule
    UNAUTHENTICATED = "unauthenticated"  # no credential, or one we do not recognise
    PERMISSION_DENIED = "permission_denied"  # valid credential, not allowed to do this
    NOT_FOUND = "not_found"  # the named thing does not exist (or is not visible to the caller)
    ALREADY_EXISTS = "already_exists"  # creating something whose identity is taken
    FAILED_PRECONDITION = "failed_precondition"  # valid request, wrong state (e.g. run finished)
    RESOURCE_EXHAUSTED = "resource_exhausted"  # a size limit, quota or full buffer
    UNAVAILABLE = "unavailable"  # a dependency (broker, store) cannot be reached; retry later
    CONFIG = "config"  # a setting is missing or malformed
    INTERNAL = "internal"  # a bug: the message says what we were doing


class CairnError(Exception):
    """Root of every error Cairn raises on purpose."""

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str, *, field: str | None = None, rule: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.rule = rule

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code.value!r}, message={self.message!r})"


class ValidationError(CairnError):
    """Input broke a rule; ``field`` is a dotted path into the input, ``rule`` the rule's name."""

    code = ErrorCode.INVALID_ARGUMENT


class AuthenticationError(CairnError):
    code = ErrorCode.UNAUTHENTICATED


class PermissionDeniedError(CairnError):
    code = ErrorCode.PERMISSION_DENIED


class NotFoundError(CairnError):
    code = ErrorCode.NOT_FOUND


class AlreadyExistsError(CairnError):
    code = ErrorCode.ALREADY_EXISTS


class FailedPreconditionError(CairnError):
    code = ErrorCode.FAILED_PRECONDITION


class LimitExceededError(CairnError):
    code = ErrorCode.RESOURCE_EXHAUSTED


class UnavailableError(CairnError):
    code = ErrorCode.UNAVAILABLE


class ConfigError(CairnError):
    code = ErrorCode.CONFIG


_BY_CODE: dict[ErrorCode, type[CairnError]] = {
    ErrorCode.INVALID_ARGUMENT: ValidationError,
    ErrorCode.UNAUTHENTICATED: AuthenticationError,
    ErrorCode.PERMISSION_DENIED: PermissionDeniedError,
    ErrorCode.NOT_FOUND: NotFoundError,
    ErrorCode.ALREADY_EXISTS: AlreadyExistsError,
    ErrorCode.FAILED_PRECONDITION: FailedPreconditionError,
    ErrorCode.RESOURCE_EXHAUSTED: LimitExceededError,
    ErrorCode.UNAVAILABLE: UnavailableError,
    ErrorCode.CONFIG: ConfigError,
    ErrorCode.INTERNAL: CairnError,
}


def error_for_code(
    code: str, message: str, *, field: str | None = None, rule: str | None = None
) -> CairnError:
    """The error a server raised, rebuilt from its code (an ``ErrorInfo`` reason or a
    ``Rejection.reason``): the same class, so the code survives the trip. An unknown code is
    an internal error."""
    try:
        kind = _BY_CODE[ErrorCode(code)]
    except ValueError:
        kind = CairnError
    return kind(message, field=field or None, rule=rule or None)
