"""Driver scripts that run inside each system's own virtualenv (see ``_driver_core``).

They are executed as scripts (``python cairn_driver.py``), which puts this directory on their
``sys.path``; the harness imports only ``_driver_core``'s pure helpers (the deterministic data),
so both sides agree on what the stores contain.
"""
