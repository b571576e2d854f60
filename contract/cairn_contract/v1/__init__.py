"""Cairn's wire contract, generated from ``proto/cairn/v1/*.proto`` by ``proto/generate.py``."""
