"""The sign-in screen and the signed-in person's corner of the sidebar (see :mod:`ui.auth`).

A password sign-in lasts beyond the browser session through a signed cookie
(:mod:`ui.session_cookie`): a reload or a permalink opens directly while it is valid.
"""

from __future__ import annotations

import time
from typing import Any

import streamlit as st

from cairn_contract.errors import CairnError
from query import people
from reports.format import md
from ui import auth, context, session_cookie
from ui.auth import Identity
from ui.settings import AuthMode
from ui.users import load_users


def _oidc_configured() -> bool:
    try:
        return "auth" in st.secrets
    except (FileNotFoundError, KeyError, OSError):  # no secrets file at all
        return False


def mode() -> AuthMode:
    return auth.effective_mode(context.settings().auth_mode, _oidc_configured())


def _teams_of(user_id: str) -> frozenset[str]:
    return people.teams_of_user(context.client(), user_id)


_COOKIE_TO_SET = "cairn.cookie.to_set"  # a token the next page run stores in the browser
_SIGNED_OUT = "cairn.cookie.signed_out"  # this session signed out: its cookie no longer counts


def _from_cookie() -> Identity | None:
    """The identity of a valid sign-in cookie, read afresh from the users file (None if there is
    no cookie, it does not verify, it expired, or its user is gone)."""
    settings = context.settings()
    token = st.context.cookies.get(session_cookie.COOKIE, "")
    # (Streamlit's AppTest has no request: its cookies are a mock, not text.)
    claimed = session_cookie.read_token(token) if isinstance(token, str) and token else None
    if claimed is None or settings.users_file is None or st.session_state.get(_SIGNED_OUT):
        return None
    user = load_users(settings.users_file).get(claimed.user_id)
    if user is None:
        return None
    session = session_cookie.verify(
        settings.cookie_secret, token, user.password_scrypt,
        now=time.time(), max_age_s=settings.session_days * 86_400,
    )  # fmt: skip
    if session is None:
        return None
    return Identity(user.user_id, user.display_name, user.teams, user.admin, "password")


def signed_in() -> Identity | None:
    """The session's identity; else a valid sign-in cookie's; with OIDC, made from ``st.user``
    once the provider signed in."""
    found = st.session_state.get(context.IDENTITY_KEY)
    if isinstance(found, Identity):
        return found
    if mode() is not AuthMode.OIDC and (remembered := _from_cookie()) is not None:
        st.session_state[context.IDENTITY_KEY] = remembered
        return remembered
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
    st.session_state.pop(_SIGNED_OUT, None)
    settings = context.settings()
    if identity.method in session_cookie.METHODS and settings.cookie_secret and settings.users_file:
        user = load_users(settings.users_file)[identity.user_id]
        session = session_cookie.Session(identity.user_id, identity.method, int(time.time()))
        st.session_state[_COOKIE_TO_SET] = session_cookie.make_token(
            settings.cookie_secret, session, user.password_scrypt
        )
    st.rerun()


def _write_cookie(token: str) -> None:
    max_age = int(context.settings().session_days * 86_400) if token else 0
    st.html(session_cookie.set_script(token, max_age), unsafe_allow_javascript=True)


def show() -> None:
    """The sign-in screen (the URL's page and parameters are kept for after signing in)."""
    if st.session_state.get(_SIGNED_OUT):
        _write_cookie("")  # delete the browser's copy
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
        if token := st.session_state.pop(_COOKIE_TO_SET, None):
            _write_cookie(token)
        st.divider()
        role = " · admin" if who.admin else ""
        st.markdown(f"**{md(who.display_name)}**{role}")
        st.caption("Teams: " + (", ".join(sorted(who.teams)) or "none"))
        if st.button("Sign out", icon=":material/logout:", key="sign_out"):
            st.session_state.pop(context.IDENTITY_KEY, None)
            st.session_state[_SIGNED_OUT] = True
            if who.method == "oidc":
                st.logout()
            st.rerun()
