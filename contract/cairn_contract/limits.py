"""The documented limits on what ingest accepts (docs/events.md, "Limits").

One frozen value, passed to the validator and the server; the defaults are the contract the
docs state, and operators may tighten or widen them through ``CAIRN_INGEST_*`` variables. Sizes
are bytes of serialized protobuf; string lengths are Unicode code points.
"""

from __future__ import annotations

from dataclasses import dataclass

KIB = 1024
MIB = 1024 * KIB
NANOS_PER_SECOND = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Limits:
    # Batches and events.
    max_batch_bytes: int = 8 * MIB  # one EventBatch message; also the gRPC receive limit
    max_events_per_batch: int = 10_000
    max_event_bytes: int = 2 * MIB  # one Event, serialized (one Kafka record)
    # Metrics.
    max_points_per_event: int = 100_000
    max_points_per_batch: int = 500_000
    max_series_per_event: int = 10_000
    # Histograms.
    max_histograms_per_event: int = 1_000
    max_bins_per_histogram: int = 512
    # Media (images, tables, text, figures, audio): items per event, items per key and step (an
    # item's index is below it), and the size of one stored blob (the event carries its digest).
    max_media_per_event: int = 1_000
    max_media_per_step: int = 10_000
    max_media_blob_bytes: int = 64 * MIB
    # Repeated fields other than metric points (params, tags, packages, mentions, ...).
    max_items_per_list: int = 10_000
    # Strings.
    max_id_chars: int = 128  # run, user, comment, key ids
    max_slug_chars: int = 64  # team and project slugs
    max_key_chars: int = 250  # metric, param and tag keys
    max_config_depth: int = 10  # segments of a dotted param key
    max_name_chars: int = 256  # names, labels, versions, hosts
    max_text_chars: int = 4_096  # reasons, short descriptions, argv items
    max_param_value_chars: int = 6_000
    max_tag_value_chars: int = 5_000
    max_uri_chars: int = 2_048
    max_markdown_chars: int = 65_536  # comment bodies, notes, run descriptions, tracebacks
    max_view_param_chars: int = 16_384  # one URL parameter of a saved view (filter, columns)
    # Time: a timestamp must lie in [min_timestamp_ns, now + max_clock_skew_ns].
    min_timestamp_ns: int = 946_684_800 * NANOS_PER_SECOND  # 2000-01-01T00:00:00Z
    max_clock_skew_ns: int = 24 * 3600 * NANOS_PER_SECOND

    def __post_init__(self) -> None:
        if self.max_event_bytes > self.max_batch_bytes:
            raise ValueError("max_event_bytes must not exceed max_batch_bytes")
        if self.max_points_per_event > self.max_points_per_batch:
            raise ValueError("max_points_per_event must not exceed max_points_per_batch")

    @property
    def max_diff_chars(self) -> int:
        """A code diff is bounded only by the event size; the SDK truncates and says so."""
        return self.max_event_bytes
