"""Identifiers the SDK mints (event ids, run ids, comment ids): the contract's UUIDv7."""

from __future__ import annotations

from cairn_contract.ids import new_uuid7 as uuid7

__all__ = ["uuid7"]
