r"""JSON text from Arrow columns, compiled: each column's values as JSON, then lines of them.

The texts are those msgspec writes for the same Python values, byte for byte:
floats in their shortest round-trip digits, in decimal notation from 1e-5 up to
1e16 and as ``1.5e-7`` or ``1e16`` outside it, ``-0.0`` and ``0.0`` for zeros,
NaN and infinities as ``null``; strings with msgspec's escapes (``\"``, ``\\``,
the short forms ``\b \t \n \f \r``, and ``\u00XX`` for other control bytes).

Most market floats have few digits: a compiled loop finds their digits as the
integer ``m`` with the fewest decimals ``k`` such that ``m / 10**k`` is the
float. With ``m < 2**53`` and ``k <= 22`` that division is exact before its one
rounding, as parsing the text would be, so the text reads back as the float;
and while the float's spacing is below ``10**-k``, no other text with ``k``
decimals does, so it is the shortest. The others (16-17 digits, very large or
small values) are written by msgspec itself, as one list: about 90 ns a value,
against 300 for Arrow's float-to-text cast.

A rendered column is ``(offsets, data)``: value ``i`` is ``data[offsets[i]:offsets[i + 1]]``.
:func:`lines` lays rendered columns out as JSON objects, one per line.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import msgspec
import numba
import numpy as np
import pyarrow as pa

from quoteflow.formats._bytes import copy_bytes

__all__ = [
    "Rendered",
    "all_null",
    "lines",
    "render_bools",
    "render_floats",
    "render_ints",
    "render_lists",
    "render_maps",
    "render_strings",
]

Rendered = tuple[np.ndarray, np.ndarray]
"""A rendered column: int64 offsets (one more than values) and the JSON bytes."""

_NULL = np.frombuffer(b"null", dtype=np.uint8)
_encode = msgspec.json.Encoder().encode
_POW10 = np.array([10.0**k for k in range(23)])
_TWO_53 = 9007199254740992.0
_NO_DIGITS = np.zeros(8, dtype=np.uint8)
_FLOAT_WIDTH = 25  # the longest float text, -1.2345678901234567e-308, and one to spare
_INT_WIDTH = 21  # -9223372036854775808

# the states of a float after the first pass
_IS_NULL, _IS_ZERO, _IS_FAST, _IS_WHOLE, _NEEDS_DIGITS = 0, 1, 2, 3, 4


@numba.njit(cache=True, inline="always")
def _put_null(data, at):
    for b in range(4):
        data[at + b] = _NULL[b]
    return at + 4


@numba.njit(cache=True, inline="always")
def _put_digits(data, at, m):
    """Write the decimal digits of the non-negative integer ``m``; return the end.

    In unsigned arithmetic throughout: numba computes a mix of uint64 and int64 in
    float64, which would round large values.
    """
    m = np.uint64(m)
    ten = np.uint64(10)
    count = 1
    rest = m // ten
    while rest:
        count += 1
        rest //= ten
    for place in range(count - 1, -1, -1):
        data[at + place] = np.uint64(48) + m % ten
        m //= ten
    return at + count


@numba.njit(cache=True, nogil=True)
def _classify_floats(values, valid, whole):
    """Return per value its state, digits as an integer ``m`` and scientific exponent.

    ``whole`` marks the values written as integers when integral (IG volumes).
    Returns the states, ``m``, the exponents, and whether a value is an integral
    ``whole`` value too large to write exactly from a double (the caller falls
    back to Python for those).
    """
    n = values.shape[0]
    state = np.empty(n, dtype=np.int8)
    digits = np.zeros(n, dtype=np.uint64)
    exponent = np.zeros(n, dtype=np.int32)
    too_large = False
    for i in range(n):
        x = values[i]
        if not valid[i] or x != x or x - x != 0.0:  # null, NaN or an infinity
            state[i] = _IS_NULL
            continue
        ax = abs(x)
        if whole and ax == np.floor(ax):
            if ax >= _TWO_53:
                too_large = True
            state[i] = _IS_WHOLE
            digits[i] = np.uint64(ax)
            continue
        if ax == 0.0:
            state[i] = _IS_ZERO
            continue
        state[i] = _NEEDS_DIGITS
        if ax < 1e-5 or ax >= 1e16:
            continue
        spacing = math.ldexp(1.0, math.frexp(ax)[1] - 53)
        for k in range(23):
            scaled = ax * _POW10[k]
            if scaled >= _TWO_53 or spacing * _POW10[k] >= 1.0:
                break
            m = np.floor(scaled + 0.5)
            if m / _POW10[k] == ax:
                state[i] = _IS_FAST
                digits[i] = np.uint64(m)
                count = 1
                rest = np.uint64(m) // np.uint64(10)
                while rest:
                    count += 1
                    rest //= np.uint64(10)
                exponent[i] = count - 1 - k
                break
    return state, digits, exponent, too_large


@numba.njit(cache=True, inline="always")
def _put_decimal(data, at, negative, digits, count, exponent):
    """Write a float of 1e-5 to 1e16 from its digits and scientific exponent; return the end."""
    if negative:
        data[at] = 45
        at += 1
    if exponent >= 0:
        whole = exponent + 1
        for j in range(whole):
            data[at] = digits[j] if j < count else 48
            at += 1
        data[at] = 46
        at += 1
        if count > whole:
            for j in range(whole, count):
                data[at] = digits[j]
                at += 1
        else:
            data[at] = 48
            at += 1
        return at
    data[at] = 48
    data[at + 1] = 46
    at += 2
    for _ in range(-exponent - 1):
        data[at] = 48
        at += 1
    for j in range(count):
        data[at] = digits[j]
        at += 1
    return at


@numba.njit(cache=True, nogil=True)
def _list_items(text):
    """Return where each item of a JSON list of numbers starts, and one past the last's end."""
    count = 1
    for c in text:
        count += c == 44
    starts = np.empty(count + 1, dtype=np.int64)
    starts[0] = 1
    item = 1
    for position in range(text.shape[0]):
        if text[position] == 44:
            starts[item] = position + 1
            item += 1
    starts[count] = text.shape[0]  # the closing bracket stands where a comma would
    return starts


@numba.njit(cache=True, nogil=True)
def _write_floats(values, state, digits, exponent, texts, text_starts, text_of):
    """Return offsets and bytes of the floats; ``texts`` holds msgspec's text of the others."""
    n = values.shape[0]
    offsets = np.empty(n + 1, dtype=np.int64)
    offsets[0] = 0
    data = np.empty(n * _FLOAT_WIDTH, dtype=np.uint8)
    scratch = np.empty(24, dtype=np.uint8)
    at = 0
    for i in range(n):
        s = state[i]
        negative = math.copysign(1.0, values[i]) < 0.0
        if s == _IS_NULL:
            at = _put_null(data, at)
        elif s == _IS_ZERO:
            if negative:
                data[at] = 45
                at += 1
            data[at] = 48
            data[at + 1] = 46
            data[at + 2] = 48
            at += 3
        elif s == _IS_WHOLE:
            if values[i] < 0.0:
                data[at] = 45
                at += 1
            at = _put_digits(data, at, digits[i])
        elif s == _IS_FAST:
            m = digits[i]
            count = 0
            while m:
                scratch[count] = np.uint64(48) + m % np.uint64(10)
                m //= np.uint64(10)
                count += 1
            for j in range(count // 2):
                scratch[j], scratch[count - 1 - j] = scratch[count - 1 - j], scratch[j]
            while count > 1 and scratch[count - 1] == 48:
                count -= 1
            at = _put_decimal(data, at, negative, scratch, count, exponent[i])
        else:
            t = text_of[i]
            for p in range(text_starts[t], text_starts[t + 1] - 1):
                data[at] = texts[p]
                at += 1
        offsets[i + 1] = at
    return offsets, data[:at]


def render_floats(column: pa.Array, *, whole: bool = False) -> Rendered | None:
    """Render a float column; with ``whole``, integral values as integers (no ``.0``).

    Returns None when a ``whole`` value is integral and at least 2**53, which a
    double cannot give exactly (the caller writes the records another way).
    """
    if column.null_count == len(column):
        return all_null(len(column))
    values = column.fill_null(0.0).to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
    valid = column.is_valid().to_numpy(zero_copy_only=False)
    state, digits, exponent, too_large = _classify_floats(values, valid, whole)
    if too_large:
        return None
    others = np.flatnonzero(state == _NEEDS_DIGITS)
    text_of = np.zeros(len(values), dtype=np.int64)
    texts = np.frombuffer(_encode(values[others].tolist()), dtype=np.uint8)
    text_of[others] = np.arange(len(others))
    return _write_floats(values, state, digits, exponent, texts, _list_items(texts), text_of)


@numba.njit(cache=True, nogil=True)
def _write_ints(values, valid, divisor):
    n = values.shape[0]
    offsets = np.empty(n + 1, dtype=np.int64)
    offsets[0] = 0
    data = np.empty(n * _INT_WIDTH, dtype=np.uint8)
    at = 0
    for i in range(n):
        if not valid[i]:
            at = _put_null(data, at)
        else:
            v = values[i] // divisor
            if v < 0:
                data[at] = 45
                at += 1
                at = _put_digits(data, at, np.uint64(-(v + 1)) + np.uint64(1))
            else:
                at = _put_digits(data, at, np.uint64(v))
        offsets[i + 1] = at
    return offsets, data[:at]


def render_ints(column: pa.Array, *, divisor: int = 1) -> Rendered:
    """Render an integer or timestamp column, each value floor-divided by ``divisor``."""
    if column.null_count == len(column):
        return all_null(len(column))
    if pa.types.is_timestamp(column.type):
        column = column.cast(pa.int64())
    values = column.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    valid = column.is_valid().to_numpy(zero_copy_only=False)
    return _write_ints(values, valid, divisor)


@numba.njit(cache=True, nogil=True)
def _write_bools(values, valid):
    n = values.shape[0]
    offsets = np.empty(n + 1, dtype=np.int64)
    offsets[0] = 0
    data = np.empty(n * 5, dtype=np.uint8)
    at = 0
    for i in range(n):
        if not valid[i]:
            at = _put_null(data, at)
        elif values[i]:
            for b in (116, 114, 117, 101):
                data[at] = b
                at += 1
        else:
            for b in (102, 97, 108, 115, 101):
                data[at] = b
                at += 1
        offsets[i + 1] = at
    return offsets, data[:at]


def render_bools(column: pa.Array) -> Rendered:
    """Render a boolean column."""
    values = column.fill_null(False).to_numpy(zero_copy_only=False)
    valid = column.is_valid().to_numpy(zero_copy_only=False)
    return _write_bools(values, valid)


_ESCAPES = np.zeros(256, dtype=np.uint8)  # 0: as is; else the letter after the backslash
for _byte, _letter in {8: "b", 9: "t", 10: "n", 12: "f", 13: "r", 34: '"', 92: "\\"}.items():
    _ESCAPES[_byte] = ord(_letter)
for _byte in range(32):
    if not _ESCAPES[_byte]:
        _ESCAPES[_byte] = ord("u")
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


@numba.njit(cache=True, nogil=True)
def _write_strings(offsets_in, data_in, valid):
    n = valid.shape[0]
    size = 0
    for i in range(n):
        if not valid[i]:
            size += 4
            continue
        size += 2
        for p in range(offsets_in[i], offsets_in[i + 1]):
            e = _ESCAPES[data_in[p]]
            size += 1 if e == 0 else (6 if e == 117 else 2)
    offsets = np.empty(n + 1, dtype=np.int64)
    offsets[0] = 0
    data = np.empty(size, dtype=np.uint8)
    at = 0
    for i in range(n):
        if not valid[i]:
            at = _put_null(data, at)
        else:
            data[at] = 34
            at += 1
            for p in range(offsets_in[i], offsets_in[i + 1]):
                c = data_in[p]
                e = _ESCAPES[c]
                if e == 0:
                    data[at] = c
                    at += 1
                elif e == 117:
                    data[at] = 92
                    data[at + 1] = 117
                    data[at + 2] = 48
                    data[at + 3] = 48
                    data[at + 4] = _HEX[c >> 4]
                    data[at + 5] = _HEX[c & 15]
                    at += 6
                else:
                    data[at] = 92
                    data[at + 1] = e
                    at += 2
            data[at] = 34
            at += 1
        offsets[i + 1] = at
    return offsets, data


def _string_buffers(column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Return a string column's offsets (from its first value, as int64) and its bytes."""
    _, offsets_buffer, data_buffer = column.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int32)[column.offset :][: len(column) + 1]
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else _NO_DIGITS
    return offsets.astype(np.int64), data


def render_strings(column: pa.Array) -> Rendered:
    """Render a string column as JSON strings."""
    if column.null_count == len(column):
        return all_null(len(column))
    offsets, data = _string_buffers(column)
    return _write_strings(offsets, data, column.is_valid().to_numpy(zero_copy_only=False))


def all_null(n: int) -> Rendered:
    """Return ``n`` nulls, rendered."""
    return np.arange(0, 4 * (n + 1), 4, dtype=np.int64), np.tile(_NULL, n)


@numba.njit(cache=True, nogil=True)
def _write_containers(lengths_from, valid, keys_offsets, keys, values_offsets, values, opening,
                      closing):  # fmt: skip
    """Write ``[v, ...]`` (no keys) or ``{k: v, ...}`` per row from rendered children."""
    n = valid.shape[0]
    has_keys = keys_offsets.shape[0] > 1
    size = 0
    for i in range(n):
        if not valid[i]:
            size += 4
            continue
        size += 2
        first, last = lengths_from[i], lengths_from[i + 1]
        if last > first:
            size += last - first - 1 + values_offsets[last] - values_offsets[first]
            if has_keys:
                size += last - first + keys_offsets[last] - keys_offsets[first]
    offsets = np.empty(n + 1, dtype=np.int64)
    offsets[0] = 0
    data = np.empty(size + 8, dtype=np.uint8)
    at = np.uint64(0)
    for i in range(n):
        if not valid[i]:
            for b in range(4):
                data[at + np.uint64(b)] = _NULL[b]
            at += np.uint64(4)
        else:
            data[at] = opening
            at += np.uint64(1)
            for e in range(lengths_from[i], lengths_from[i + 1]):
                if e > lengths_from[i]:
                    data[at] = 44
                    at += np.uint64(1)
                if has_keys:
                    length = np.uint64(keys_offsets[e + 1] - keys_offsets[e])
                    copy_bytes(data, at, keys, np.uint64(keys_offsets[e]), length)
                    at += length
                    data[at] = 58
                    at += np.uint64(1)
                length = np.uint64(values_offsets[e + 1] - values_offsets[e])
                copy_bytes(data, at, values, np.uint64(values_offsets[e]), length)
                at += length
            data[at] = closing
            at += np.uint64(1)
        offsets[i + 1] = at
    return offsets, data[:at]


def _padded(rendered: Rendered) -> Rendered:
    offsets, data = rendered
    return offsets, np.concatenate([data, _NO_DIGITS])


def render_lists(column: pa.ListArray) -> Rendered:
    """Render a list-of-strings column as JSON arrays."""
    if column.null_count == len(column):
        return all_null(len(column))
    lengths = column.offsets.to_numpy().astype(np.int64)
    children = column.values.slice(lengths[0], lengths[-1] - lengths[0])
    values = _padded(render_strings(children))
    empty = np.zeros(1, dtype=np.int64)
    valid = column.is_valid().to_numpy(zero_copy_only=False)
    return _write_containers(lengths - lengths[0], valid, empty, _NO_DIGITS, *values, 91, 93)


def render_maps(column: pa.MapArray) -> Rendered:
    """Render a map-of-string-to-float column as JSON objects, entries in order."""
    if column.null_count == len(column):
        return all_null(len(column))
    lengths = column.offsets.to_numpy().astype(np.int64)
    first, count = lengths[0], lengths[-1] - lengths[0]
    keys = _padded(render_strings(column.keys.slice(first, count)))
    items = render_floats(column.items.slice(first, count))
    if items is None:
        raise AssertionError("map items are never written as integers")
    valid = column.is_valid().to_numpy(zero_copy_only=False)
    return _write_containers(lengths - first, valid, *keys, *_padded(items), 123, 125)


@numba.njit(cache=True, nogil=True)
def _write_lines(n, column_offsets, column_data, pieces, piece_starts, layout, row_layout):
    """Write line ``i``: for each (piece, column) of its layout, the piece then the value."""
    size = 0
    for i in range(n):
        for slot in range(layout.shape[1]):
            piece, column = layout[row_layout[i], slot]
            if piece < 0:
                break
            size += piece_starts[piece + 1] - piece_starts[piece]
            if column >= 0:
                size += column_offsets[column, i + 1] - column_offsets[column, i]
    data = np.empty(size + 8, dtype=np.uint8)
    at = np.uint64(0)
    for i in range(n):
        for slot in range(layout.shape[1]):
            piece, column = layout[row_layout[i], slot]
            if piece < 0:
                break
            length = np.uint64(piece_starts[piece + 1] - piece_starts[piece])
            copy_bytes(data, at, pieces, np.uint64(piece_starts[piece]), length)
            at += length
            if column >= 0:
                begin = np.uint64(column_offsets[column, i])
                length = np.uint64(column_offsets[column, i + 1]) - begin
                copy_bytes(data, at, column_data, begin, length)
                at += length
    return data[:at]


def lines(
    n: int,
    columns: Sequence[Rendered],
    pieces: Sequence[bytes],
    layouts: Sequence[Sequence[tuple[int, int]]],
    row_layout: np.ndarray,
) -> bytes:
    """Return ``n`` lines laid out from rendered columns and literal pieces.

    Row ``i`` follows ``layouts[row_layout[i]]``: for each ``(piece, column)``,
    ``pieces[piece]`` and then column ``column``'s value (none for -1).
    """
    bases = np.cumsum([0] + [len(data) for _, data in columns])
    column_offsets = np.empty((max(len(columns), 1), n + 1), dtype=np.int64)
    for index, (offsets, _) in enumerate(columns):
        column_offsets[index] = offsets + bases[index]
    column_data = np.concatenate([*(data for _, data in columns), _NO_DIGITS])
    starts = np.cumsum([0] + [len(piece) for piece in pieces]).astype(np.int64)
    pool = np.frombuffer(b"".join([*pieces, bytes(8)]), dtype=np.uint8)
    width = max(len(layout) for layout in layouts) + 1
    table = np.full((len(layouts), width, 2), -1, dtype=np.int64)
    for index, layout in enumerate(layouts):
        table[index, : len(layout)] = layout
    return _write_lines(n, column_offsets, column_data, pool, starts, table, row_layout).tobytes()
