"""Columnar row buffers: rows for one table kept as columns, ready for a columnar insert.

Small tables append Python values row by row (a few per event). Metric tables append whole numpy
arrays per series, so a batch of a million points is a handful of ``np.concatenate`` calls and
never a Python loop per point.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from domain.tables import Kind, TableSchema

# Kinds kept as numpy arrays; times are int64 nanoseconds until they leave as Python ints.
_ARRAY_DTYPES: dict[Kind, type[np.generic]] = {
    Kind.INT: np.int64,
    Kind.UINT: np.uint64,
    Kind.FLOAT: np.float64,
    Kind.TIME: np.int64,
}


# Kinds :meth:`ColumnBuffer.encoded` gives without a Python object per row.
ENCODABLE_KINDS = frozenset({Kind.STR, Kind.LABEL, Kind.INT, Kind.UINT, Kind.FLOAT, Kind.TIME})


class Labels(NamedTuple):
    """A dictionary-encoded string column: row ``i`` holds ``values[codes[i]]``."""

    codes: np.ndarray[Any, Any]  # int32
    values: list[str]


class ColumnBuffer:
    """Accumulates rows for ``schema``; :meth:`columns` returns one sequence per column."""

    def __init__(self, schema: TableSchema) -> None:
        self.schema = schema
        self._chunks: dict[str, list[Any]] = {name: [] for name in schema.column_names}
        self.rows = 0

    def append(self, **row: Any) -> None:
        """One row; every column must be given (a missing one is a bug, so it raises)."""
        if row.keys() != self._chunks.keys():
            missing = set(self._chunks) - set(row)
            extra = set(row) - set(self._chunks)
            raise KeyError(
                f"{self.schema.name}: missing {sorted(missing)}, unknown {sorted(extra)}"
            )
        for name, value in row.items():
            self._chunks[name].append(value)
        self.rows += 1

    def extend(self, count: int, **columns: Any) -> None:
        """``count`` rows: numpy arrays or lists of that length, or scalars repeated ``count``
        times."""
        if count == 0:
            return
        for name, chunks in self._chunks.items():
            value = columns[name]
            if isinstance(value, np.ndarray):
                if len(value) != count:
                    raise ValueError(
                        f"{self.schema.name}.{name}: {len(value)} values for {count} rows"
                    )
                chunks.append(_Array(value))
            elif isinstance(value, list):
                if len(value) != count:
                    raise ValueError(
                        f"{self.schema.name}.{name}: {len(value)} values for {count} rows"
                    )
                chunks.append(_Values(value))
            else:
                chunks.append(_Repeat(value, count))
        self.rows += count

    def absorb(self, other: ColumnBuffer) -> None:
        """Move ``other``'s rows (same schema) to the end of this buffer."""
        for name, chunks in other._chunks.items():
            self._chunks[name].extend(chunks)
        self.rows += other.rows

    @property
    def encodable(self) -> bool:
        """Whether every column is of a kind :meth:`encoded` handles."""
        return all(kind in ENCODABLE_KINDS for _, kind in self.schema.columns)

    def encoded(self) -> dict[str, Any]:
        """Columns for a columnar wire format (Arrow): numpy arrays for numbers and times (int64
        nanoseconds), :class:`Labels` for strings. A value repeated over a series' rows (its run
        id, its key) is encoded once, so a million points cost a few numpy calls, no Python
        object each. Only for :attr:`encodable` buffers."""
        out: dict[str, Any] = {}
        for name, kind in self.schema.columns:
            if kind in (Kind.STR, Kind.LABEL):
                out[name] = _labels(self._chunks[name])
            elif kind in _ARRAY_DTYPES:
                out[name] = self._array(name, _ARRAY_DTYPES[kind])
            else:
                raise TypeError(f"{self.schema.name}.{name}: {kind} has no encoded form")
        return out

    def columns(self) -> list[Any]:
        """Columns in schema order: numpy arrays for numbers, int nanoseconds for times, else lists."""
        return [self._column(name, kind) for name, kind in self.schema.columns]

    def _array(self, name: str, dtype: type[np.generic]) -> np.ndarray[Any, Any]:
        parts = []
        for chunk in self._chunks[name]:
            if isinstance(chunk, _Repeat):
                parts.append(np.full(chunk.count, chunk.value, dtype=dtype))
            elif isinstance(chunk, _Array):
                parts.append(chunk.array)
            elif isinstance(chunk, _Values):
                parts.append(np.asarray(chunk.values, dtype=dtype))
            else:
                parts.append(np.asarray([chunk], dtype=dtype))
        return np.concatenate(parts).astype(dtype, copy=False) if parts else np.empty(0, dtype)

    def _column(self, name: str, kind: Kind) -> Any:
        chunks = self._chunks[name]
        dtype = _ARRAY_DTYPES.get(kind)
        if dtype is None:
            out: list[Any] = []
            for chunk in chunks:
                if isinstance(chunk, _Repeat):
                    out.extend([chunk.value] * chunk.count)
                elif isinstance(chunk, _Array):
                    out.extend(chunk.array.tolist())
                elif isinstance(chunk, _Values):
                    out.extend(chunk.values)
                else:
                    out.append(chunk)
            return out
        joined = self._array(name, dtype)
        if kind is Kind.TIME:
            # Nanosecond ticks as Python ints: the form clickhouse-connect writes to DateTime64(9)
            # without a per-value datetime conversion.
            return joined.tolist()
        return joined


def _labels(chunks: list[Any]) -> Labels:
    index: dict[str, int] = {}
    codes: list[int] = []
    counts: list[int] = []
    for chunk in chunks:
        if isinstance(chunk, _Repeat):
            codes.append(index.setdefault(chunk.value, len(index)))
            counts.append(chunk.count)
            continue
        items = (
            chunk.array.tolist()
            if isinstance(chunk, _Array)
            else chunk.values
            if isinstance(chunk, _Values)
            else [chunk]
        )
        codes.extend(index.setdefault(item, len(index)) for item in items)
        counts.extend([1] * len(items))
    return Labels(np.repeat(np.asarray(codes, dtype=np.int32), counts), list(index))


class _Repeat:
    __slots__ = ("count", "value")

    def __init__(self, value: Any, count: int) -> None:
        self.value = value
        self.count = count


class _Array:
    __slots__ = ("array",)

    def __init__(self, array: np.ndarray[Any, Any]) -> None:
        self.array = array


class _Values:
    __slots__ = ("values",)

    def __init__(self, values: list[Any]) -> None:
        self.values = values
