"""Cairn's team portal: ``streamlit run ui/app.py``.

The entry point: it reads the environment (the only place the portal does), signs the visitor
in (:mod:`ui.sign_in`), and hands over to the page the URL names. Each page is a script in
``ui/views/``; the sidebar lists them in three groups.
"""

from __future__ import annotations

import os

import streamlit as st

from ui import context, data, sign_in
from ui.settings import PortalSettings

st.set_page_config(page_title="Cairn", page_icon=":material/landscape:", layout="wide")
context.configure(PortalSettings.from_env(os.environ))

PAGES = {
    "Explore": [
        st.Page("views/projects.py", title="Projects", icon=":material/folder:", default=True),
        st.Page("views/runs.py", title="Runs", icon=":material/table_rows:", url_path="runs"),
        st.Page("views/run.py", title="Run", icon=":material/monitoring:", url_path="run"),
        st.Page("views/compare.py", title="Compare", icon=":material/compare:", url_path="compare"),
        st.Page("views/sweep.py", title="Sweeps", icon=":material/tune:", url_path="sweep"),
        st.Page("views/lineage.py", title="Lineage", icon=":material/account_tree:", url_path="lineage"),
    ],
    "Explain": [
        st.Page("views/models.py", title="Models", icon=":material/deployed_code:", url_path="models"),
    ],
    "Collaborate": [
        st.Page("views/discussion.py", title="Discussion", icon=":material/forum:", url_path="discussion"),
        st.Page("views/handover.py", title="Handover", icon=":material/handshake:", url_path="handover"),
        st.Page("views/sharing.py", title="Sharing", icon=":material/share:", url_path="sharing"),
        st.Page("views/automations.py", title="Automations", icon=":material/bolt:", url_path="automations"),
    ],
}  # fmt: skip

# Navigation comes first even for visitors who must sign in: it resolves the page the URL names,
# so a permalink opened while signed out lands on its page (with its parameters) afterwards.
signed_in = sign_in.signed_in() is not None
# The Inbox heads the sidebar with the signed-in person's unread count in its title.
unread = data.unread_count_or_zero(context.caller()) if signed_in else 0
inbox_title = f"Inbox ({unread})" if unread else "Inbox"
PAGES = {
    "You": [
        st.Page("views/inbox.py", title=inbox_title, icon=":material/inbox:", url_path="inbox")
    ],
    **PAGES,
}
page = st.navigation(PAGES, position="sidebar" if signed_in else "hidden")
if not signed_in:
    sign_in.show()
    st.stop()
sign_in.sidebar()
page.run()
