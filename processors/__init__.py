"""Cairn's stream processors: faust-streaming agents that project the event log into ClickHouse."""
