"""Cairn's team portal (Streamlit). It reads through ``query`` and writes only through ingest."""
