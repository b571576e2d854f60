"""Cairn side by side with MLflow and Aim: ``make bench`` / ``python -m bench.compare [--quick]``.

The harness (this package, running in Cairn's ``.venv``) installs each peer into its own
virtualenv (:mod:`bench.compare.peers`), starts every system's server on loopback
(:mod:`bench.compare.systems`) and drives each system through a *driver* process that runs inside
that system's virtualenv (``peer_drivers/``), so every client is measured with only its own
dependencies loaded. Workloads (one module each) alternate systems per repetition and record
into :class:`bench.compare.results.Results`; :mod:`bench.compare.report` writes the
"Cairn vs MLflow and Aim" section of ``docs/benchmarks.md`` and a PNG beside it.
"""
