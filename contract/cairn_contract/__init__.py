"""Cairn's contract: what the SDK and every server part agree on, in one distribution.

- ``cairn_contract.v1``: the protobuf/gRPC types generated from ``proto/cairn/v1/*.proto``
  (``make proto``; the SDK re-exports them as ``cairn.v1``).
- ``errors``: the one error hierarchy and its codes (the SDK re-exports it as ``cairn.errors``).
- ``limits``, ``field_rules``: the size limits and per-field text rules the server enforces and
  the SDK checks early.
- ``event_types``: the event-type table (aggregate kind and schema version per payload).
- ``ids``: UUIDv7, the id scheme of events, runs and comments.
- ``sweep_record``: the tag and param names a sweep is recorded under.
- ``artifact_layout``: the content-addressed artifact store's layout and manifest format.
- ``reproduction``: a run's recorded capture as ``cairn reproduce`` reads it, and the report
  comparing a reproduction with its original.

It depends on nothing but grpcio and protobuf, and nothing in it does I/O.
"""
