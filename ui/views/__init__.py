"""The portal's pages: each module is a Streamlit page script (run by ``ui/app.py``, never imported)."""
