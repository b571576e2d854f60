"""Cairn's query layer: every SQL statement Cairn runs against ClickHouse lives in this package.

Callers (portal, CLI, notebooks) get typed functions; values are always bound as parameters and
identifiers quoted by :func:`query.sql.quote_identifier`.
"""
