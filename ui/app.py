"""Streamlit entry point: ``streamlit run ui/app.py``. Pages arrive with the portal issue."""

from __future__ import annotations

import os

import streamlit as st

from query.client import ClickHouseTarget, connect
from ui.settings import PortalSettings

settings = PortalSettings.from_env(os.environ)
st.set_page_config(page_title="Cairn", layout="wide")
st.title("Cairn")
try:
    version = connect(settings.clickhouse_url).command("SELECT version()")
    st.caption(
        f"Store: ClickHouse {version} at {ClickHouseTarget.from_url(settings.clickhouse_url).redacted()}"
    )
except Exception as exc:  # the page must still render when the store is down
    st.error(f"The store is unreachable: {exc}")
