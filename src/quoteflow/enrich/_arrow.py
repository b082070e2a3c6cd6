"""Arrow columns built from integer codes, and codes read from Arrow columns.

The columnar path ends with per-event codes (the move, the reason it is
missing, the indicator version an event sees). pyarrow's ``take`` turns such
codes into strings or maps at 13-50 ns a row on this project's machines; these
builders write the offsets and bytes of the result directly, copying texts eight
bytes at a time, or for texts of one width up to eight bytes (the moves) one
store per row. At the other end, :class:`StringCodes` numbers a batch's
instruments by the names the state already holds: 3-5 ns a row for short names
and about 10 for 21-byte names that share their first and last eight bytes,
against 20 for dictionary-encoding the batch. Both read and write eight bytes
at a time (:mod:`quoteflow.formats._bytes`), with unsigned indexes.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

import numba
import numpy as np
import pyarrow as pa

from quoteflow.formats._bytes import copy_bytes, put_word, word_at

__all__ = ["StringCodes", "maps_by_row", "null_strings", "strings_by_code"]

_ONE = np.uint64(1)
_MAP = pa.map_(pa.string(), pa.float64())
_ENTRY = pa.struct([_MAP.key_field, _MAP.item_field])


def _pool(texts: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """Return the UTF-8 bytes of ``texts`` end to end and where each starts (None is empty).

    Eight zero bytes follow the last text, for :func:`~quoteflow.formats._bytes.copy_bytes`.
    """
    encoded = [(text or "").encode() for text in texts]
    starts = np.zeros(len(encoded) + 1, dtype=np.uint64)
    np.cumsum([len(e) for e in encoded], out=starts[1:])
    return np.frombuffer(b"".join([*encoded, bytes(8)]), dtype=np.uint8), starts


@numba.njit(cache=True)
def _gather(codes, pool, starts, absent):
    """Return offsets, bytes, validity bits and null count of ``pool[starts[c]:starts[c + 1]]``.

    A code whose ``absent`` entry is set gives a null.
    """
    n = codes.shape[0]
    total = np.uint64(0)
    for i in range(n):
        c = np.uint64(codes[i])
        total += starts[c + _ONE] - starts[c]
    offsets = np.empty(n + 1, dtype=np.int32)
    offsets[0] = 0
    data = np.empty(total + np.uint64(8), dtype=np.uint8)
    validity = np.zeros((n + 7) // 8, dtype=np.uint8)
    nulls = 0
    at = np.uint64(0)
    for i in range(n):
        c = np.uint64(codes[i])
        length = starts[c + _ONE] - starts[c]
        copy_bytes(data, at, pool, starts[c], length)
        at += length
        offsets[i + 1] = at
        if absent[c]:
            nulls += 1
        else:
            validity[i >> 3] |= np.uint8(1 << (i & 7))
    return offsets, data[:total], validity, nulls


@numba.njit(cache=True)
def _equal_widths(codes, words, width, absent):
    """Return the texts of ``codes`` end to end, ``width`` bytes each, and how many are None.

    ``words`` holds each text as one little-endian integer; a None text is
    written as its word too, so the bytes are only of use when none is None.
    """
    n = codes.shape[0]
    data = np.empty(n * width + 8, dtype=np.uint8)
    nulls = 0
    at = np.uint64(0)
    for i in range(n):
        c = np.uint64(codes[i])
        nulls += absent[c]
        put_word(data, at, words[c])
        at += np.uint64(width)
    return data[: n * width], nulls


class _Texts(NamedTuple):
    pool: np.ndarray
    starts: np.ndarray
    absent: np.ndarray
    all_absent: bool
    width: int  # the length of every text that is not None, when one of 1-8 bytes; else 0
    words: np.ndarray  # each text as a little-endian integer, when ``width`` is set


@functools.lru_cache(maxsize=256)
def _texts(texts: tuple[str | None, ...]) -> _Texts:
    """Return the pool of ``texts``, which of them are None, and their common width."""
    pool, starts = _pool(texts)
    absent = [text is None for text in texts]
    encoded = [(text or "").encode() for text in texts]
    widths = {len(e) for e, none in zip(encoded, absent, strict=True) if not none}
    width = widths.pop() if len(widths) == 1 and 0 < min(widths) <= 8 else 0
    words = np.array([int.from_bytes(e[:8], "little") for e in encoded], dtype=np.uint64)
    return _Texts(pool, starts, np.array(absent), all(absent), width, words)


def strings_by_code(texts: Sequence[str | None], codes: np.ndarray) -> pa.Array:
    """Return ``texts[codes]`` as a string array, null where the text is None.

    When the texts have one width of up to eight bytes (the moves), each row is
    a single 8-byte store: 0.5 ns a row here, against 3 for the general copy.
    """
    t = _texts(tuple(texts))
    n = len(codes)
    if t.all_absent:
        return null_strings(n)
    if t.width:
        data, nulls = _equal_widths(codes, t.words, t.width, t.absent)
        if not nulls:
            buffers = [None, _even_offsets(t.width, n), pa.py_buffer(data)]
            return pa.Array.from_buffers(pa.string(), n, buffers, null_count=0)
    offsets, data, validity, nulls = _gather(codes, t.pool, t.starts, t.absent)
    buffers = [pa.py_buffer(validity) if nulls else None, pa.py_buffer(offsets), pa.py_buffer(data)]
    return pa.Array.from_buffers(pa.string(), n, buffers, null_count=nulls)


@functools.lru_cache(maxsize=16)
def null_strings(n: int) -> pa.Array:
    """Return a string array of ``n`` nulls, kept for reuse (batches repeat sizes)."""
    return pa.nulls(n, pa.string())


@functools.lru_cache(maxsize=16)
def _even_offsets(width: int, n: int) -> pa.Buffer:
    """Return the offsets of ``n`` texts of ``width`` bytes each (batches repeat sizes)."""
    return pa.py_buffer(np.arange(0, width * (n + 1), width, dtype=np.int32))


@numba.njit(cache=True)
def _entries(values, rows, pool, starts):
    """Return map offsets, key offsets, key bytes and items of the non-NaN ``values[rows]``."""
    versions, k = values.shape
    count = np.zeros(versions, dtype=np.uint64)  # per version: its entries,
    key_bytes = np.zeros(versions, dtype=np.uint64)  # their keys' length
    columns = np.empty((versions, k), dtype=np.uint64)  # and their columns
    for v in range(versions):
        for j in range(k):
            if values[v, j] == values[v, j]:
                columns[v, count[v]] = j
                count[v] += _ONE
                key_bytes[v] += starts[j + 1] - starts[j]
    n = rows.shape[0]
    offsets = np.empty(n + 1, dtype=np.int32)
    offsets[0] = 0
    total = np.uint64(0)
    total_bytes = np.uint64(0)
    for i in range(n):
        v = np.uint64(rows[i])
        total += count[v]
        total_bytes += key_bytes[v]
        offsets[i + 1] = total
    key_offsets = np.empty(total + _ONE, dtype=np.int32)
    key_offsets[0] = 0
    key_data = np.empty(total_bytes + np.uint64(8), dtype=np.uint8)
    items = np.empty(total, dtype=np.float64)
    e = np.uint64(0)
    at = np.uint64(0)
    for i in range(n):
        v = np.uint64(rows[i])
        for q in range(count[v]):
            j = columns[v, q]
            length = starts[j + _ONE] - starts[j]
            copy_bytes(key_data, at, pool, starts[j], length)
            at += length
            items[e] = values[v, j]
            e += _ONE
            key_offsets[e] = at
    return offsets, key_offsets, key_data[:total_bytes], items


def maps_by_row(names: Sequence[str], values: np.ndarray, rows: np.ndarray) -> pa.MapArray:
    """Return, per entry of ``rows``, a map of the non-NaN ``values[row]`` by column name."""
    t = _texts(tuple(names))
    offsets, key_offsets, key_data, items = _entries(values, rows, t.pool, t.starts)
    keys = pa.Array.from_buffers(
        pa.string(), len(items), [None, pa.py_buffer(key_offsets), pa.py_buffer(key_data)]
    )
    floats = pa.Array.from_buffers(pa.float64(), len(items), [None, pa.py_buffer(items)])
    entries = pa.Array.from_buffers(_ENTRY, len(items), [None], children=[keys, floats])
    return pa.Array.from_buffers(_MAP, len(rows), [None, pa.py_buffer(offsets)], children=[entries])


@numba.njit(cache=True, inline="always")
def _ends(data, begin, end):
    """Return (head, tail) of the bytes ``data[begin:end]`` as little-endian integers.

    The head is the first eight bytes and the tail the last eight; a shorter
    text is all head, with a tail of 0. Equal texts have equal heads and tails,
    and texts of up to 16 bytes are equal when their lengths, heads and tails are.
    """
    length = end - begin
    if length >= np.uint64(8):
        return word_at(data, begin), word_at(data, end - np.uint64(8))
    if length == np.uint64(0):
        return np.uint64(0), np.uint64(0)
    if end >= np.uint64(8):  # the eight bytes ending here, less the ones before the text
        head = word_at(data, end - np.uint64(8)) >> ((np.uint64(8) - length) * np.uint64(8))
        return head, np.uint64(0)
    head = np.uint64(0)
    for b in range(begin, end):
        head |= np.uint64(data[b]) << ((b - begin) * np.uint64(8))
    return head, np.uint64(0)


@numba.njit(cache=True, inline="always")
def _slot(head, tail, length, mask):
    h = head ^ (tail * np.uint64(0xFF51AFD7ED558CCD)) ^ (length * np.uint64(0xC2B2AE3D27D4EB4F))
    h *= np.uint64(0x9E3779B97F4A7C15)
    return (h ^ (h >> np.uint64(29))) & mask


@numba.njit(cache=True, inline="always")
def _same_middle(a, a_begin, b, b_begin, length):
    """Tell whether two texts of ``length`` bytes agree between their head and tail."""
    for at in range(np.uint64(8), length - np.uint64(8), np.uint64(8)):
        if word_at(a, a_begin + at) != word_at(b, b_begin + at):
            return False
    return True


@numba.njit(cache=True)
def _lookup(offsets, data, pool, starts, heads, tails, table):
    """Return the code of every string in ``table``, or all -1 if one is not there.

    Strings are told apart by length, first and last eight bytes, then by the
    bytes between those.
    """
    n = offsets.shape[0] - 1
    mask = np.uint64(table.shape[0] - 1)
    codes = np.empty(n, dtype=np.int64)
    for i in range(n):
        begin, end = np.uint64(offsets[i]), np.uint64(offsets[i + 1])
        length = end - begin
        head, tail = _ends(data, begin, end)
        slot = _slot(head, tail, length, mask)
        while True:
            c = table[slot]
            if c < 0:
                codes[:] = -1
                return codes
            name = starts[c]
            if (
                heads[c] == head
                and tails[c] == tail
                and starts[c + 1] - name == length
                and (length <= np.uint64(16) or _same_middle(pool, name, data, begin, length))
            ):
                codes[i] = c
                break
            slot = (slot + _ONE) & mask
    return codes


@numba.njit(cache=True)
def _table(pool, starts, size):
    """Return the heads and tails of the texts of ``pool`` and their open-addressing table."""
    m = starts.shape[0] - 1
    heads = np.empty(m, dtype=np.uint64)
    tails = np.empty(m, dtype=np.uint64)
    table = np.full(size, -1, dtype=np.int64)
    mask = np.uint64(size - 1)
    for c in range(m):
        heads[c], tails[c] = _ends(pool, starts[c], starts[c + 1])
        slot = _slot(heads[c], tails[c], starts[c + 1] - starts[c], mask)
        while table[slot] >= 0:
            slot = (slot + _ONE) & mask
        table[slot] = c
    return heads, tails, table


class StringCodes:
    """Numbers the strings of Arrow columns by their place in a fixed list of names."""

    def __init__(self, names: Sequence[str]) -> None:
        """Index ``names`` in an open-addressing table a quarter full at most."""
        self.pool, self.starts = _pool(names)
        size = max(8, 1 << (4 * len(names)).bit_length())
        self.heads, self.tails, self.table = _table(self.pool, self.starts, size)

    def codes(self, column: pa.Array) -> np.ndarray | None:
        """Return the code of every value of a string column, None if one is null or unknown."""
        if column.type != pa.string() or column.null_count:
            return None
        _, offsets, data = column.buffers()
        start = column.offset
        offsets = np.frombuffer(offsets, dtype=np.int32)[start : start + len(column) + 1]
        data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
        codes = _lookup(offsets, data, self.pool, self.starts, self.heads, self.tails, self.table)
        return None if len(codes) and codes[0] < 0 else codes
