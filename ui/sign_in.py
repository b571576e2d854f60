"""The sign-in screen and the signed-in person's corner of the sidebar (see :mod:`ui.auth`)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from cairn_contract.errors import CairnError
from query import people
from reports.format import md
from ui import auth, context
from ui.auth import Identity
from ui.settings import AuthMode


def _oidc_configured() -> bool:
    try:
        return "auth" in st.secrets
    except (FileNotFoundError, KeyError, OSError):  # no secrets file at all
        return False


def mode() -> AuthMode:
    return auth.effective_mode(context.settings().auth_mode, _oidc_configured())


def _teams_of(user_id: str) -> frozenset[str]:
    return people.teams_of_user(context.client(), user_id)


def signed_in() -> Identity | None:
    """The session's identity; with OIDC, made from ``st.user`` once the provider signed in."""
    found = st.session_state.get(context.IDENTITY_KEY)
    if isinstance(found, Identity):
        return found
    if mode() is AuthMode.OIDC and st.user.is_logged_in:
        claims: dict[str, Any] = dict(st.user.to_dict())
        identity = auth.oidc_identity(
            claims, teams_of=_teams_of, users_file=context.settings().users_file
        )
        st.session_state[context.IDENTITY_KEY] = identity
        return identity
    return None


def _accept(identity: Identity) -> None:
    st.session_state[context.IDENTITY_KEY] = identity
    st.rerun()


def show() -> None:
    """The sign-in screen (the URL's page and parameters are kept for after signing in)."""
    _, middle, _ = st.columns([1, 2, 1])
    with middle:
        st.title(":material/landscape: Cairn")
        st.caption("Experiments, models and the knowledge around them, kept for good.")
        if mode() is AuthMode.OIDC:
            st.button("Sign in with your organisation", on_click=st.login, type="primary")
            return
        password_tab, key_tab = st.tabs(["Password", "API key"])
        with password_tab, st.form("sign-in-password"):
            user_id = st.text_input("User", key="sign_in.user")
            password = st.text_input("Password", type="password", key="sign_in.password")
            if st.form_submit_button("Sign in", type="primary"):
                identity = auth.password_identity(context.settings().users_file, user_id, password)
                if identity is None:
                    st.error("Unknown user or wrong password.")
                else:
                    _accept(identity)
        with key_tab, st.form("sign-in-key"):
            key = st.text_input("API key", type="password", key="sign_in.key")
            if st.form_submit_button("Sign in with key", type="primary"):
                try:
                    identity = auth.api_key_identity(
                        key,
                        key_works=context.writer().key_works,
                        key_info=lambda key_id: people.api_key_info(context.client(), key_id),
                        teams_of=_teams_of,
                    )
                except CairnError as exc:
                    st.error(exc.message)
                else:
                    _accept(identity)


def sidebar() -> None:
    """Who is signed in, their teams, and signing out."""
    who = context.identity()
    with st.sidebar:
        st.divider()
        role = " · admin" if who.admin else ""
        st.markdown(f"**{md(who.display_name)}**{role}")
        st.caption("Teams: " + (", ".join(sorted(who.teams)) or "none"))
        if st.button("Sign out", icon=":material/logout:", key="sign_out"):
            st.session_state.pop(context.IDENTITY_KEY, None)
            if who.method == "oidc":
                st.logout()
            st.rerun()
