"""Reading the protobuf wire format just far enough to keep bytes as they were received.

Ingest must decode a batch to validate it, but need not re-encode each event to store it: the
bytes of each ``EventBatch.events`` entry are a complete ``Event`` already (see
:meth:`domain.validation.BatchValidator.encode`). :func:`field_slices` finds them without a
second decode. Plain Python, no protobuf runtime needed.
"""

from __future__ import annotations

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise ValueError("truncated or overlong varint")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def field_slices(data: bytes, number: int) -> list[bytes]:
    """The raw values of every occurrence of length-delimited field ``number`` in the message
    ``data``, in order. ValueError when ``data`` is not well-formed wire format."""
    out: list[bytes] = []
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        wire_type = key & 0x7
        if wire_type == _VARINT:
            _, at = _varint(data, at)
        elif wire_type == _I64:
            at += 8
        elif wire_type == _I32:
            at += 4
        elif wire_type == _LEN:
            length, at = _varint(data, at)
            if key >> 3 == number:
                out.append(data[at : at + length])
            at += length
        else:  # groups are not used by Cairn's messages
            raise ValueError(f"unsupported wire type {wire_type}")
        if at > len(data):
            raise ValueError("truncated field")
    return out
