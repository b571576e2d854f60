"""Cairn's pure domain core: rules about events that hold whatever transport carries them.

Nothing here imports grpc, aiokafka, faust, clickhouse_connect or streamlit (a unit test walks
the package to keep it so); adapters in ``ingest/``, ``processors/`` and ``query/`` call in.
"""
