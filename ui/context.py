"""What every page needs: the settings, the store client, the event sink and who is signed in.

``app.py`` (the entry point) reads the environment once and calls :func:`configure`; pages then
ask this module. The ClickHouse client and the ingest writer are process-wide resources
(thread-safe, shared by every browser session); the identity lives in the session. Tests put a
:class:`~ui.ingest_writer.RecordingSink` under :data:`SINK_KEY` to capture what pages append.
"""

from __future__ import annotations

from typing import Any, cast

import clickhouse_connect.common
import streamlit as st
from clickhouse_connect.driver.client import Client

from cairn_contract.errors import FailedPreconditionError
from query import people
from query.access import Caller
from query.client import connect
from ui.auth import Identity
from ui.ingest_writer import EventSink, IngestWriter, KeyRing
from ui.settings import PortalSettings

SETTINGS_KEY = "cairn.settings"
IDENTITY_KEY = "cairn.identity"
SINK_KEY = "cairn.sink"


def configure(portal_settings: PortalSettings) -> None:
    st.session_state[SETTINGS_KEY] = portal_settings


def settings() -> PortalSettings:
    found = st.session_state.get(SETTINGS_KEY)
    if not isinstance(found, PortalSettings):
        raise FailedPreconditionError("the portal was not configured (run ui/app.py)")
    return found


@st.cache_resource(show_spinner=False)
def _client(url: str) -> Client:
    # One client serves every session's threads; ClickHouse sessions would serialise (and
    # refuse) concurrent queries, and the portal never needs session state on the server.
    clickhouse_connect.common.set_setting("autogenerate_session_id", False)
    return connect(url)


def client() -> Client:
    return _client(settings().clickhouse_url)


@st.cache_resource(show_spinner=False)
def _writer(portal_settings: PortalSettings) -> IngestWriter:
    store = _client(portal_settings.clickhouse_url)

    def team_of_key(key_id: str) -> str | None:
        info = people.api_key_info(store, key_id)
        return info.team if info and not info.revoked else None

    ring = KeyRing(
        configured=dict(portal_settings.api_keys),
        keys_file=portal_settings.api_keys_file,
        unscoped=portal_settings.unscoped_api_keys,
        resolve_team=team_of_key,
    )
    return IngestWriter(portal_settings.ingest_url, ring)


def writer() -> IngestWriter:
    return _writer(settings())


def sink() -> EventSink:
    """Where this session's events go: ingest, or the sink a test installed."""
    override = st.session_state.get(SINK_KEY)
    if override is not None:
        return cast(EventSink, override)
    return writer()


def identity() -> Identity:
    found = st.session_state.get(IDENTITY_KEY)
    if not isinstance(found, Identity):
        raise FailedPreconditionError("nobody is signed in")
    return found


def caller() -> Caller:
    return identity().caller


def state(key: str, default: Any) -> Any:
    """A session value, created with ``default`` on first use."""
    if key not in st.session_state:
        st.session_state[key] = default
    return st.session_state[key]
