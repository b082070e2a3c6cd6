"""Trade corrections and cancels applied to the candles the enrichment job has built.

The job keeps the recent trades of every instrument in a :class:`TradeLedger`
(Arrow columns, appended batch by batch, never copied on the hot path). A
:class:`~quoteflow.events.TradeCorrection` or
:class:`~quoteflow.events.TradeCancel` finds its trade there by trade id (and
exchange, where both give one), changes or removes it, and rebuilds the
trade side of every candle window the trade fell in, exactly, from the
ledger:

- a window still open takes the rebuilt open, high, low, close, volume and
  VWAP, and closes with them;
- a window already closed is emitted again, rebuilt, as a bar with
  ``corrected=True``; the indicators keep the values the first bar gave them.

An amendment whose trade has not arrived yet (another topic, read at another
pace) waits for it, until it is older than the ledger's horizon; one whose
trade or window is older than that cannot be applied. Every outcome is
counted (``EnrichState.amended``).
"""

from __future__ import annotations

from collections import Counter, deque

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from quoteflow.events import Bar, TradeCancel, TradeCorrection
from quoteflow.indicators.candles import CandleBuilder, CandleState, Ohlc, Window

__all__ = [
    "APPLIED_TO_CLOSED",
    "APPLIED_TO_OPEN",
    "EMPTIED_CLOSED",
    "TOO_OLD",
    "Amendment",
    "TradeLedger",
    "apply_amendment",
    "retry_waiting",
]

Amendment = TradeCorrection | TradeCancel

APPLIED_TO_OPEN = "applied to an open bar"
APPLIED_TO_CLOSED = "corrected bar emitted"
EMPTIED_CLOSED = "closed bar left without trades (not emitted again)"
TOO_OLD = "trade older than the correction horizon"

_SCHEMA = pa.schema([
    ("instrument", pa.string()),
    ("ts_event", pa.int64()),
    ("ts_recv", pa.int64()),
    ("price", pa.float64()),
    ("size", pa.float64()),
    ("trade_id", pa.string()),
    ("exchange", pa.string()),
])  # fmt: skip


class _LedgerSnapshot(msgspec.Struct, array_like=True):
    trades: bytes
    newest_ns: int
    waiting: list[bytes]


_NEVER = -(2**62)


class TradeLedger:
    """The trades of the last ``horizon_ns`` of event time, for applying amendments.

    The horizon ends at the newest trade seen: :attr:`since_ns` depends only on
    the trades, never on how they were cut into batches, and neither does what
    the ledger holds.
    """

    def __init__(self, horizon_ns: int) -> None:
        self.horizon_ns = horizon_ns
        self._tables: deque[tuple[int, pa.Table]] = deque()  # (newest ts_event, trades)
        self._newest_ns = _NEVER
        self.waiting: list[Amendment] = []

    @property
    def since_ns(self) -> int:
        """Return the event time from which the ledger holds every trade it was given."""
        return _NEVER if self._newest_ns == _NEVER else self._newest_ns - self.horizon_ns

    def add_batch(self, batch: pa.RecordBatch) -> pa.Table:
        """Remember an Arrow batch of trades; its columns are not copied."""
        columns = [batch.column(name) for name in _SCHEMA.names]
        columns = [column.cast(wanted.type) if column.type != wanted.type else column
                   for column, wanted in zip(columns, _SCHEMA, strict=True)]  # fmt: skip
        return self._add(pa.table(columns, schema=_SCHEMA))

    def _add(self, table: pa.Table) -> pa.Table:
        if not table.num_rows:
            return table
        newest = pc.max(table.column("ts_event")).as_py()
        self._tables.append((newest, table))
        if newest > self._newest_ns:
            self._newest_ns = newest
            while self._tables and self._tables[0][0] < self.since_ns:  # all of it is older
                self._tables.popleft()
        return table

    def _whole(self) -> pa.Table:
        """Return every trade within the horizon as one table (and keep it so)."""
        if not self._tables:
            return _SCHEMA.empty_table()
        table = pa.concat_tables([t for _, t in self._tables])
        table = table.filter(pc.greater_equal(table.column("ts_event"), self.since_ns))
        self._replace(table)
        return table

    def _replace(self, table: pa.Table) -> None:
        self._tables = deque([(self._newest_ns, table)])

    @staticmethod
    def find(table: pa.Table, amendment: Amendment) -> int | None:
        """Return the row of ``table`` (ledger columns) holding the trade ``amendment`` names."""
        trade_id = (amendment.original_trade_id if isinstance(amendment, TradeCorrection)
                    else amendment.trade_id)  # fmt: skip
        if trade_id is None:
            return None
        mask = pc.and_(pc.equal(table.column("instrument"), amendment.instrument),
                       pc.equal(table.column("trade_id"), trade_id))  # fmt: skip
        if amendment.exchange is not None:
            same = pc.equal(table.column("exchange"), amendment.exchange)
            mask = pc.and_(mask, pc.or_kleene(same, pc.is_null(table.column("exchange"))))
        rows = np.flatnonzero(mask.to_numpy(zero_copy_only=False))
        return int(rows[0]) if len(rows) else None

    def apply(self, amendment: Amendment) -> int | None:
        """Change or remove the trade ``amendment`` names; return its event time, or None.

        None: the trade is not (yet) in the ledger.
        """
        table = self._whole()
        row = self.find(table, amendment)
        if row is None:
            return None
        ts = table.column("ts_event")[row].as_py()
        if isinstance(amendment, TradeCancel):
            keep = np.ones(table.num_rows, dtype=bool)
            keep[row] = False
            self._replace(table.filter(pa.array(keep)))
            return ts
        changed = {
            "price": amendment.corrected_price,
            "size": amendment.corrected_size,
            "trade_id": amendment.corrected_trade_id or amendment.original_trade_id,
        }
        mask = np.zeros(table.num_rows, dtype=bool)
        mask[row] = True
        for name, value in changed.items():
            index = table.schema.get_field_index(name)
            column = pc.if_else(pa.array(mask), pa.scalar(value, _SCHEMA.field(name).type),
                                table.column(name))  # fmt: skip
            table = table.set_column(index, name, column)
        self._replace(table)
        return ts

    def window_trades(self, instrument: str, start: int, end: int) -> pa.Table:
        """Return the trades of ``instrument`` with ``start <= ts_event < end``."""
        table = self._whole()
        ts = table.column("ts_event")
        mask = pc.and_(pc.equal(table.column("instrument"), instrument),
                       pc.and_(pc.greater_equal(ts, start), pc.less(ts, end)))  # fmt: skip
        return table.filter(mask)

    def snapshot(self) -> bytes:
        """Return the ledger (trades, horizon start, waiting amendments) as bytes."""
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, _SCHEMA) as writer:  # one batch: the same trades, same bytes
            writer.write_table(self._whole().combine_chunks())
        waiting = [msgspec.msgpack.encode(a) + (b"c" if isinstance(a, TradeCorrection) else b"x")
                   for a in self.waiting]  # fmt: skip
        return msgspec.msgpack.encode(_LedgerSnapshot(sink.getvalue().to_pybytes(),
                                                      self._newest_ns, waiting))  # fmt: skip

    @classmethod
    def restore(cls, data: bytes, horizon_ns: int) -> TradeLedger:
        """Return the ledger from :meth:`snapshot` bytes."""
        snap = msgspec.msgpack.decode(data, type=_LedgerSnapshot)
        ledger = cls(horizon_ns)
        ledger._newest_ns = snap.newest_ns
        table = pa.ipc.open_stream(snap.trades).read_all()
        if table.num_rows:
            ledger._replace(table)
        kinds = {b"c": TradeCorrection, b"x": TradeCancel}
        ledger.waiting = [msgspec.msgpack.decode(item[:-1], type=kinds[item[-1:]])
                          for item in snap.waiting]  # fmt: skip
        return ledger


def _rebuild(trades: pa.Table) -> tuple[Ohlc, float, float, int]:
    """Return the trade OHLC, volume, notional and latest receive time of a window's trades."""
    ohlc = Ohlc()
    ts = trades.column("ts_event").to_pylist()
    prices = trades.column("price").to_pylist()
    sizes = trades.column("size").to_numpy()
    for t, price in zip(ts, prices, strict=True):
        ohlc.add(t, price)
    notional = float(np.dot(trades.column("price").to_numpy(), sizes)) if len(sizes) else 0.0
    recv = pc.max(trades.column("ts_recv")).as_py() if trades.num_rows else 0
    return ohlc, float(sizes.sum()), notional, recv or 0


def apply_amendment(
    ledger: TradeLedger,
    candles: CandleBuilder,
    state: CandleState,
    amendment: Amendment,
    counts: Counter[str],
) -> list[Bar]:
    """Apply one amendment to the ledger and the candles; return the corrected closed bars."""
    if amendment.ts_event < ledger.since_ns:
        counts[TOO_OLD] += 1
        return []
    ts = ledger.apply(amendment)
    if ts is None:
        ledger.waiting.append(amendment)
        return []
    inst = state.instruments.get(amendment.instrument)
    windows = candles.windows_of(ts) or []
    bars = []
    for start, end in windows:
        if start < ledger.since_ns:
            counts[TOO_OLD] += 1
            continue
        ohlc, volume, notional, recv = _rebuild(ledger.window_trades(amendment.instrument,
                                                                    start, end))  # fmt: skip
        window = inst.windows.get(start) if inst is not None else None
        if window is not None:
            window.trades, window.volume, window.notional = ohlc, volume, notional
            counts[APPLIED_TO_OPEN] += 1
        elif inst is not None and ohlc.count:
            rebuilt = Window(end, max(recv, amendment.ts_recv), ohlc, volume, notional)
            bar = candles.bar(amendment.instrument, inst, start, rebuilt)
            bars.append(msgspec.structs.replace(bar, corrected=True))
            counts[APPLIED_TO_CLOSED] += 1
        else:
            counts[EMPTIED_CLOSED] += 1
    return bars


def retry_waiting(
    ledger: TradeLedger,
    added: pa.Table,
    candles: CandleBuilder,
    state: CandleState,
    counts: Counter[str],
) -> list[Bar]:
    """Apply the waiting amendments whose trade is among the trades just ``added``.

    Returns the corrected closed bars. Amendments older than the horizon stop waiting.
    """
    waiting, ledger.waiting = ledger.waiting, []
    bars: list[Bar] = []
    for amendment in waiting:
        if ledger.find(added, amendment) is not None:
            bars.extend(apply_amendment(ledger, candles, state, amendment, counts))
        elif amendment.ts_event < ledger.since_ns:
            counts[TOO_OLD] += 1
        else:
            ledger.waiting.append(amendment)
    return bars
