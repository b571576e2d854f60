"""The ``cairn.v1.Query`` gRPC service: reads for every client, served in ingest's process."""
