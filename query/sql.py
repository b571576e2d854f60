"""Helpers for writing SQL safely: identifier quoting. Values are never formatted into SQL."""

from __future__ import annotations

import re

from cairn_contract.errors import ValidationError

_PLAIN_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def quote_identifier(name: str) -> str:
    """Quote a database/table/column name with backticks, escaping what needs it.

    Only names Cairn chose (or that passed validation) reach here, but quoting everything keeps a
    future mistake from becoming an injection.
    """
    if not name or "\x00" in name:
        raise ValidationError(
            f"invalid SQL identifier {name!r}", field="identifier", rule="sql_identifier"
        )
    if _PLAIN_IDENTIFIER.match(name):
        return f"`{name}`"
    escaped = name.replace("\\", "\\\\").replace("`", "\\`")
    return f"`{escaped}`"
