"""Row hashes and the compiled merge that coalesces primary and replica rows.

What makes two rows of the two sources the same event: the same ``ts_event``
and equal values in every *identity column*. Those are the record type's
defining fields (:data:`DEFINING_FIELDS`: a trade's price, size and the
provider's trade id; a quote's prices and sizes; a bar's period, OHLCV and
whether it is a correction) that both sources fill in every row of the
partition; for other types, every field both sources always fill. A field that
one ingester lacks (an older version, a REST gap-fill beside stream records)
is therefore not part of the identity, and never doubles a row. ``ts_recv``
differs between two ingesters and never counts. Values are compared through
64-bit hashes.

Which value wins, field by field: the primary's, where it has one; where it
is null, the replica's. Two values that differ where both have one are
*conflicts*: the primary's is kept and they are counted.

Within one source, rows equal in every column, ``ts_recv`` included, come from
a chunk written twice and are dropped. Events that repeat with the same
identity and time but different ``ts_recv`` are kept as often as the source
that saw them more often has them.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from quoteflow.events import Bar, Event, News, Quote, Ticker, Trade
from quoteflow.lake._tables import take_rows

__all__ = ["DEFINING_FIELDS", "Merged", "identity_columns", "merge_sources", "row_hashes"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
# ts_event is compared as it is; ts_recv differs between ingesters; provider and
# instrument are the partition's own
_SKIP = ("ts_event", "ts_recv", "provider", "instrument")


@numba.njit(cache=True, nogil=True)
def _mix(values):
    """Return splitmix64 of every value (uint64, wrapping arithmetic)."""
    out = np.empty_like(values)
    for i in range(values.shape[0]):
        x = values[i]
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        out[i] = x ^ (x >> np.uint64(31))
    return out


def _column_hash(column: pa.Array) -> np.ndarray:
    """Return a uint64 hash per value of an Arrow array (nulls hash apart from every value)."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.cast(kind.value_type)
        kind = column.type
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_map(kind):
        if pa.types.is_map(kind):
            children = _column_hash(column.keys) ^ _mix(_column_hash(column.items) + _GOLDEN)
        else:
            children = _column_hash(column.flatten())
        offsets = column.offsets.to_numpy().astype(np.int64)
        offsets = offsets - offsets[0]
        position = np.arange(len(children), dtype=np.uint64) - np.repeat(
            offsets[:-1], np.diff(offsets)
        ).astype(np.uint64)
        mixed = _mix(children + position * _GOLDEN)
        sums = np.zeros(len(column), dtype=np.uint64)
        lengths = np.diff(offsets)
        filled = lengths > 0
        if filled.any():
            sums[filled] = np.add.reduceat(mixed, offsets[:-1][filled])
        values = _mix(sums ^ lengths.astype(np.uint64))
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind):
        column = column.cast(pa.large_binary())
        _, offsets, data = column.buffers()
        first = column.offset
        starts = np.frombuffer(offsets, dtype=np.int64)[first : first + len(column) + 1]
        chars = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
        values = _fnv(starts, chars)
    else:
        if pa.types.is_timestamp(kind) or pa.types.is_boolean(kind):
            column = column.cast(pa.int64())
        filled = column.fill_null(0) if column.null_count else column
        values = filled.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
        values = values.view(np.uint64)
    if column.null_count:
        nulls = column.is_null().to_numpy(zero_copy_only=False)
        values = np.where(nulls, np.uint64(0x5A5A5A5A5A5A5A5A), values)
    return values


@numba.njit(cache=True, nogil=True)
def _fnv(offsets, data):
    """Return the FNV-1a hash of every string given by its byte offsets into ``data``."""
    n = offsets.shape[0] - 1
    out = np.empty(n, dtype=np.uint64)
    for i in range(n):
        h = np.uint64(0xCBF29CE484222325)
        for k in range(offsets[i], offsets[i + 1]):
            h = (h ^ np.uint64(data[k])) * np.uint64(0x100000001B3)
        out[i] = h
    return out


def row_hashes(table: pa.Table, skip: tuple[str, ...]) -> np.ndarray:
    """Return one uint64 hash per row over every column not in ``skip``."""
    h = np.zeros(table.num_rows, dtype=np.uint64)
    for index, name in enumerate(table.column_names):
        column = table.column(name)
        if name in skip or column.null_count == len(column):
            continue
        salt = np.uint64((index + 1) * int(_GOLDEN) & 0xFFFFFFFFFFFFFFFF)
        start = 0
        for chunk in column.chunks:
            _fold(h[start : start + len(chunk)], _column_hash(chunk), salt)
            start += len(chunk)
    return _mix(h)


@numba.njit(cache=True, nogil=True)
def _fold(h, values, salt):
    """Fold one column's value hashes into the row hashes ``h``, in place."""
    for i in range(h.shape[0]):
        x = (h[i] ^ (values[i] + salt)) * np.uint64(0x100000001B3)
        h[i] = x ^ (x >> np.uint64(29))


@numba.njit(cache=True, nogil=True)
def _sort_ties(rows, ts, first, second):
    """Order each run of equal ``ts`` in ``rows`` by (``first``, ``second``), in place.

    Runs are short (events sharing a timestamp), so insertion sort does.
    """
    n = rows.shape[0]
    i = 0
    while i < n:
        j = i + 1
        while j < n and ts[rows[j]] == ts[rows[i]]:
            j += 1
        for a in range(i + 1, j):
            row = rows[a]
            b = a
            while b > i and (
                first[rows[b - 1]] > first[row]
                or (first[rows[b - 1]] == first[row] and second[rows[b - 1]] > second[row])
            ):
                rows[b] = rows[b - 1]
                b -= 1
            rows[b] = row
        i = j


@numba.njit(cache=True, nogil=True)
def _sorted_source(ts, h, recv):
    """Return the row order by (ts, hash, recv), with exact duplicates left out."""
    n = ts.shape[0]
    ordered = True
    for a in range(1, n):
        if ts[a] < ts[a - 1]:
            ordered = False
            break
    order = np.arange(n) if ordered else np.argsort(ts, kind="mergesort")
    _sort_ties(order, ts, h, recv)
    kept = min(n, 1)
    for a in range(1, n):
        p, q = order[a - 1], order[a]
        if not (ts[p] == ts[q] and h[p] == h[q] and recv[p] == recv[q]):
            order[kept] = q
            kept += 1
    return order[:kept]


@numba.njit(cache=True, nogil=True)
def _merge(p_ts, p_h, p_order, r_ts, r_h, r_order, out, counts, pairs):
    """Merge two (ts, hash)-ordered sources; primary wins ties. Return the rows written.

    ``out`` gets row numbers: primary rows as they are, replica rows offset by
    the primary's length. ``counts`` gets [primary only, replica only, both];
    ``pairs`` the (primary row, replica row) of each event both have.
    """
    n_p = p_order.shape[0]
    n_r = r_order.shape[0]
    p_rows = p_ts.shape[0]
    i = 0
    j = 0
    n = 0
    while i < n_p or j < n_r:
        if j >= n_r or (
            i < n_p
            and (
                p_ts[p_order[i]] < r_ts[r_order[j]]
                or (p_ts[p_order[i]] == r_ts[r_order[j]] and p_h[p_order[i]] < r_h[r_order[j]])
            )
        ):
            out[n] = p_order[i]
            n += 1
            counts[0] += 1
            i += 1
        elif i >= n_p or (
            r_ts[r_order[j]] < p_ts[p_order[i]]
            or (r_ts[r_order[j]] == p_ts[p_order[i]] and r_h[r_order[j]] < p_h[p_order[i]])
        ):
            out[n] = p_rows + r_order[j]
            n += 1
            counts[1] += 1
            j += 1
        else:
            t = p_ts[p_order[i]]
            key = p_h[p_order[i]]
            i_end = i
            while i_end < n_p and p_ts[p_order[i_end]] == t and p_h[p_order[i_end]] == key:
                i_end += 1
            j_end = j
            while j_end < n_r and r_ts[r_order[j_end]] == t and r_h[r_order[j_end]] == key:
                j_end += 1
            both = min(i_end - i, j_end - j)
            for k in range(both):
                pairs[counts[2] + k, 0] = p_order[i + k]
                pairs[counts[2] + k, 1] = r_order[j + k]
            counts[2] += both
            counts[0] += i_end - i - both
            counts[1] += j_end - j - both
            for a in range(i, i_end):
                out[n] = p_order[a]
                n += 1
            for b in range(j + both, j_end):
                out[n] = p_rows + r_order[b]
                n += 1
            i = i_end
            j = j_end
    return n


DEFINING_FIELDS: dict[type[Event], tuple[str, ...]] = {
    Trade: ("price", "size", "trade_id"),
    Quote: ("bid_price", "bid_size", "ask_price", "ask_size"),
    Ticker: ("bid_price", "bid_size", "ask_price", "ask_size", "last_price", "mark_price"),
    Bar: ("period", "open", "high", "low", "close", "volume", "corrected"),
    News: ("news_id",),
}
"""The fields that say which event a record is, by record type (others: every field)."""


def identity_columns(primary: pa.Table, replica: pa.Table, kind: type[Event]) -> list[str]:
    """Return the columns that say which event a row is: defining fields both always fill."""
    filled = [name for name in primary.column_names
              if name not in _SKIP
              and primary.column(name).null_count == 0
              and replica.column(name).null_count == 0]  # fmt: skip
    defining = [name for name in filled if name in DEFINING_FIELDS.get(kind, filled)]
    return defining or filled


class Merged(NamedTuple):
    """The coalesced rows, in ``ts_event`` order, and what the merge found."""

    table: pa.Table
    counts: np.ndarray
    """[primary only, replica only, both]"""
    conflicts: int
    """Values of events both sources have that differ (the primary's was kept)."""


def merge_sources(primary: pa.Table, replica: pa.Table, kind: type[Event]) -> Merged:
    """Merge the rows of two sources of one partition (records of ``kind``), one row per event.

    The rows come in ``ts_event`` order, rows of the same ``ts_event`` by ``ts_recv``.
    """
    both = pa.concat_tables([primary, replica])
    split = primary.num_rows
    ts = both.column("ts_event").cast(pa.int64()).to_numpy()
    recv = both.column("ts_recv").cast(pa.int64()).to_numpy()
    if both.num_rows:
        whole = row_hashes(both, _SKIP)
        identity = identity_columns(primary, replica, kind)
        hashed = [n for n in both.column_names
                  if n not in _SKIP and both.column(n).null_count < both.num_rows]  # fmt: skip
        key = (
            whole
            if hashed == identity
            else row_hashes(both, tuple(n for n in both.column_names if n not in identity))
        )
    else:
        identity, whole, key = [], np.zeros(0, np.uint64), np.zeros(0, np.uint64)
    p_order = _sorted_source(ts[:split], whole[:split], recv[:split])
    r_order = _sorted_source(ts[split:], whole[split:], recv[split:])
    _sort_ties(p_order, ts[:split], key[:split], recv[:split])
    _sort_ties(r_order, ts[split:], key[split:], recv[split:])
    out = np.empty(len(p_order) + len(r_order), dtype=np.int64)
    counts = np.zeros(3, dtype=np.int64)
    pairs = np.empty((min(len(p_order), len(r_order)), 2), dtype=np.int64)
    n = _merge(ts[:split], key[:split], p_order, ts[split:], key[split:], r_order, out, counts,
               pairs)  # fmt: skip
    rows = out[:n]
    _sort_ties(rows, ts, recv, whole)
    pairs = pairs[: counts[2]]
    table, conflicts = _fill_gaps(
        both, rows, pairs, split, set(identity) if both.num_rows else set()
    )
    return Merged(table, counts, conflicts)


def _fill_gaps(
    both: pa.Table, rows: np.ndarray, pairs: np.ndarray, split: int, identity: set[str]
) -> tuple[pa.Table, int]:
    """Return ``both``'s ``rows``, the primary's nulls of shared events filled from the replica.

    Also count the conflicts: values of shared events that differ (the identity
    columns are equal in a pair by definition, and are not compared).
    """
    if not len(pairs):
        return take_rows(both, rows), 0
    primary_rows = pa.array(pairs[:, 0])
    replica_rows = pa.array(pairs[:, 1] + split)
    filled: dict[str, pa.Array] = {}
    conflicts = 0
    for name in both.column_names:
        if name in _SKIP or name in identity:
            continue
        column = both.column(name)
        if column.null_count == 0 or column.null_count == len(column):
            if column.null_count == 0 and not pa.types.is_nested(column.type):
                mine, theirs = column.take(primary_rows), column.take(replica_rows)
                conflicts += int(pc.sum(pc.not_equal(mine, theirs)).as_py() or 0)
            continue
        mine, theirs = column.take(primary_rows), column.take(replica_rows)
        if not pa.types.is_nested(column.type):
            differ = pc.and_(pc.and_(pc.is_valid(mine), pc.is_valid(theirs)),
                             pc.not_equal(mine, theirs))  # fmt: skip
            conflicts += int(pc.sum(differ).as_py() or 0)
        gaps = pc.and_(pc.is_null(mine), pc.is_valid(theirs))
        if pc.any(gaps).as_py():
            filled[name] = pc.if_else(gaps, theirs, mine)
    if not filled:
        return take_rows(both, rows), conflicts
    patched = take_rows(both, pairs[:, 0])
    for name, values in filled.items():
        patched = patched.set_column(patched.schema.get_field_index(name), name,
                                     values.combine_chunks())  # fmt: skip
    position = np.full(both.num_rows, -1, dtype=np.int64)
    position[pairs[:, 0]] = np.arange(len(pairs)) + both.num_rows
    where = position[rows]
    rows = np.where(where >= 0, where, rows)
    return take_rows(pa.concat_tables([both, patched.cast(both.schema)]), rows), conflicts
