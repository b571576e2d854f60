"""The filter language's vocabulary: field catalog, value types and the parsed tree (pure).

:mod:`domain.filters` is the public face; this module holds the data types the parser builds and
the compiler reads, so neither depends on the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from cairn_contract.errors import ValidationError

MAX_FILTER_CHARS = 8_000
MAX_DEPTH = 32  # nested parentheses and ``not``s
MAX_IN_VALUES = 1_000
MAX_KEY_CHARS = 250


class FilterError(ValidationError):
    """The filter (or order or column spec) is malformed; ``position`` is where it broke."""

    def __init__(self, message: str, text: str, position: int, *, rule: str = "filter_syntax"):
        position = max(0, min(position, len(text)))
        shown = text.replace("\n", " ").replace("\t", " ")
        caret = f"\n  {shown}\n  {' ' * position}^" if len(shown) <= 200 else ""
        super().__init__(f"{message} at position {position}{caret}", field="filter", rule=rule)
        self.position = position
        self.reason = message


class ValueType(StrEnum):
    STRING = "string"  # text: =, !=, <, >, in, like, is null
    NUMBER = "number"  # float: comparisons, in, is null
    TIME = "time"  # compared with ISO-8601 strings; nanoseconds since the epoch (UTC)
    BOOL = "bool"  # = / != true / false
    PARAM = "param"  # number with a number, text with a string or a bool


class Namespace(StrEnum):
    ATTRIBUTE = "attribute"  # one of the run's own columns
    PARAMS = "params"  # current hyperparameter value
    METRICS = "metrics"  # last logged value of a metric
    METRICS_MIN = "metrics_min"  # smallest logged value
    METRICS_MAX = "metrics_max"  # largest logged value
    TAGS = "tags"  # current tag value


# Attribute name -> (canonical name, type). Aliases let people write what they read in views.
ATTRIBUTES: dict[str, tuple[str, ValueType]] = {
    "run_id": ("run_id", ValueType.STRING),
    "id": ("run_id", ValueType.STRING),
    "name": ("name", ValueType.STRING),
    "status": ("status", ValueType.STRING),
    "status_reason": ("status_reason", ValueType.STRING),
    "owner": ("owner", ValueType.STRING),
    "created_by": ("created_by", ValueType.STRING),
    "team": ("team", ValueType.STRING),
    "project": ("project", ValueType.STRING),
    "description": ("description", ValueType.STRING),
    "host": ("host", ValueType.STRING),
    "parent_run_id": ("parent_run_id", ValueType.STRING),
    "sweep_id": ("sweep_id", ValueType.STRING),
    "git_commit": ("git_commit", ValueType.STRING),
    "git_branch": ("git_branch", ValueType.STRING),
    "git_remote": ("git_remote", ValueType.STRING),
    "git_dirty": ("git_dirty", ValueType.BOOL),
    "archived": ("archived", ValueType.BOOL),
    "exit_code": ("exit_code", ValueType.NUMBER),
    "duration": ("duration", ValueType.NUMBER),
    "duration_s": ("duration", ValueType.NUMBER),
    "created": ("created", ValueType.TIME),
    "created_at": ("created", ValueType.TIME),
    "started": ("started", ValueType.TIME),
    "started_at": ("started", ValueType.TIME),
    "finished": ("finished", ValueType.TIME),
    "finished_at": ("finished", ValueType.TIME),
}

NAMESPACE_TYPES = {
    Namespace.PARAMS: ValueType.PARAM,
    Namespace.METRICS: ValueType.NUMBER,
    Namespace.METRICS_MIN: ValueType.NUMBER,
    Namespace.METRICS_MAX: ValueType.NUMBER,
    Namespace.TAGS: ValueType.STRING,
}
NAMESPACE_ALIASES = {
    "params": Namespace.PARAMS,
    "param": Namespace.PARAMS,
    "metrics": Namespace.METRICS,
    "metric": Namespace.METRICS,
    "metrics_min": Namespace.METRICS_MIN,
    "metrics_max": Namespace.METRICS_MAX,
    "tags": Namespace.TAGS,
    "tag": Namespace.TAGS,
}
KEYWORDS = frozenset(
    {"and", "or", "not", "in", "like", "ilike", "is", "null", "true", "false", "asc", "desc"}
)
FUNCTIONS = frozenset({"isnan"})  # predicates written as function calls: isnan(field)


class Op(StrEnum):
    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="


OPERATORS = {"=": Op.EQ, "==": Op.EQ, "!=": Op.NE, "<>": Op.NE, "<": Op.LT}
OPERATORS |= {"<=": Op.LE, ">": Op.GT, ">=": Op.GE}


@dataclass(frozen=True)
class Field:
    namespace: Namespace
    name: str  # the canonical attribute name, or the user's key within the namespace
    position: int = 0

    @property
    def type(self) -> ValueType:
        if self.namespace is Namespace.ATTRIBUTE:
            return ATTRIBUTES[self.name][1]
        return NAMESPACE_TYPES[self.namespace]

    @property
    def label(self) -> str:
        """How the field is written (``status``, ``params.lr``): column names in results."""
        if self.namespace is Namespace.ATTRIBUTE:
            return self.name
        return f"{self.namespace.value}.{self.name}"


Value = str | float | bool | int  # int only for TIME (nanoseconds since the epoch, UTC)


@dataclass(frozen=True)
class Literal:
    value: Value
    position: int = 0


@dataclass(frozen=True)
class Comparison:
    field: Field
    op: Op
    value: Literal


@dataclass(frozen=True)
class InList:
    field: Field
    values: tuple[Literal, ...]
    negated: bool = False


@dataclass(frozen=True)
class Like:
    field: Field
    pattern: Literal  # SQL LIKE pattern: % any run of characters, _ one character
    negated: bool = False
    case_insensitive: bool = False


@dataclass(frozen=True)
class IsNull:
    field: Field
    negated: bool = False


@dataclass(frozen=True)
class IsNan:
    """``isnan(metrics.loss)``: the number is NaN (a diverged loss); false where it is missing."""

    field: Field


@dataclass(frozen=True)
class And:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Not:
    item: Expr


Predicate = Comparison | InList | Like | IsNull | IsNan
Expr = Predicate | And | Or | Not


@dataclass(frozen=True)
class OrderKey:
    field: Field
    descending: bool = False


def fields_of(expr: Expr | None) -> tuple[Field, ...]:
    """Every field an expression refers to, in order of appearance."""
    if expr is None:
        return ()
    if isinstance(expr, And | Or):
        return tuple(field for item in expr.items for field in fields_of(item))
    if isinstance(expr, Not):
        return fields_of(expr.item)
    return (expr.field,)
