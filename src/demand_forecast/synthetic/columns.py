"""Text columns built straight from numpy, and the ids of the generated data.

Arrow casts of numbers to text are slow at tens of millions of rows; these helpers write the bytes
of fixed-width and decimal text directly.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

US_PER_DAY = 86_400_000_000
US_PER_HOUR = 3_600_000_000
EPOCH = dt.date(1970, 1, 1)


def _string_array(offsets: np.ndarray, data: np.ndarray) -> pa.Array:
    return pa.StringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data))


def fixed_width_text(parts: list) -> pa.Array:
    """Concatenate fixed-width pieces: ``bytes`` literals and ``(int array, width)`` zero-padded."""
    buf = _fixed_width_bytes(parts)
    n, width = buf.shape
    return _string_array(np.arange(n + 1, dtype=np.int64) * width, buf.reshape(-1))


def _fixed_width_bytes(parts: list) -> np.ndarray:
    n = next(len(p[0]) for p in parts if isinstance(p, tuple))
    width = sum(len(p) if isinstance(p, bytes) else p[1] for p in parts)
    buf = np.empty((n, width), dtype=np.uint8)
    col = 0
    for part in parts:
        if isinstance(part, bytes):
            buf[:, col : col + len(part)] = np.frombuffer(part, dtype=np.uint8)
            col += len(part)
            continue
        values, w = part
        v = np.asarray(values, dtype=np.int64)
        for k in range(w):
            buf[:, col + w - 1 - k] = 48 + (v // 10**k) % 10
        col += w
    return buf


def int_text(values: np.ndarray, scale: int = 0) -> pa.Array:
    """Integers as decimal text; ``scale=2`` turns cents into ``123.45`` (sign kept)."""
    v = np.asarray(values, dtype=np.int64)
    n = len(v)
    neg = v < 0
    a = np.abs(v)
    max_digits = max(len(str(int(a.max()))) if n else 1, scale + 1)
    nd = np.ones(n, dtype=np.int64)
    for k in range(1, max_digits):
        nd += a >= 10**k
    nd = np.maximum(nd, scale + 1)
    length = nd + neg + (1 if scale else 0)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(length, out=offsets[1:])
    data = np.empty(int(offsets[-1]), dtype=np.uint8)
    start, end = offsets[:-1], offsets[1:]
    data[start[neg]] = ord("-")
    if scale:
        data[end - 1 - scale] = ord(".")
    for k in range(max_digits):
        pos = end - 1 - k - (1 if scale and k >= scale else 0)
        digit = 48 + (a // 10**k) % 10
        mask = nd > k
        data[pos[mask]] = digit[mask]
    return _string_array(offsets, data)


def _ymd(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = days.astype("datetime64[D]")
    years = d.astype("datetime64[Y]").astype(np.int64) + 1970
    months = d.astype("datetime64[M]").astype(np.int64) % 12 + 1
    mdays = (d - d.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1
    return years, months, mdays


def date_text(days_since_epoch: np.ndarray) -> pa.Array:
    """``YYYY-MM-DD`` text; formats each distinct day once and gathers the bytes."""
    days = np.asarray(days_since_epoch, dtype=np.int64)
    n = len(days)
    if n == 0:
        return pa.array([], pa.string())
    lo = int(days.min())
    span = np.arange(lo, int(days.max()) + 1)
    y, m, d = _ymd(span)
    table = _fixed_width_bytes([(y, 4), b"-", (m, 2), b"-", (d, 2)])
    return _string_array(np.arange(n + 1, dtype=np.int64) * 10, table[days - lo].reshape(-1))


def timestamp_text(us: np.ndarray) -> pa.Array:
    us = np.asarray(us, dtype=np.int64)
    days = us // US_PER_DAY
    secs = (us - days * US_PER_DAY) // 1_000_000
    years, months, mdays = _ymd(days)
    return fixed_width_text(
        [
            (years, 4),
            b"-",
            (months, 2),
            b"-",
            (mdays, 2),
            b"T",
            (secs // 3600, 2),
            b":",
            (secs // 60 % 60, 2),
            b":",
            (secs % 60, 2),
        ]
    )


def _override(arr: pa.Array, overrides: list[tuple[np.ndarray, list]]) -> pa.Array:
    """Replace the rows of each ``(mask, values)`` pair (values in row order) in one pass."""
    combined = np.zeros(len(arr), dtype=bool)
    for mask, _ in overrides:
        combined |= mask
    if not combined.any():
        return arr
    rows = np.flatnonzero(combined)
    values = np.empty(len(rows), dtype=object)
    for mask, vals in overrides:
        values[np.searchsorted(rows, np.flatnonzero(mask))] = vals
    return pc.replace_with_mask(arr, pa.array(combined), pa.array(values.tolist(), type=pa.string()))


def product_ids(numbers: np.ndarray) -> pa.Array:
    return fixed_width_text([b"P", (numbers, 6)])


def line_ids(product_numbers: np.ndarray, seq: np.ndarray) -> pa.Array:
    return fixed_width_text([b"L", (product_numbers, 6), (seq, 6)])
