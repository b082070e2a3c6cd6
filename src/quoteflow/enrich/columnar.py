"""The columnar enrichment path: an Arrow batch of quotes or trades in, Arrow out.

It gives exactly the outputs of :meth:`quoteflow.enrich.Enricher.process` on
the same events, topic by topic, and leaves the same state behind, so the two
paths can take turns on one stream. The per-event work (candle windows, the
move, price alerts) runs in one compiled loop over the columns
(:mod:`quoteflow.enrich._kernel`); the rare work (a closing bar updating the
indicators and the bar alerts, dead letters, alert records) runs in Python
with the reference code. The enriched records leave as one Arrow batch.

The state stays an :class:`~quoteflow.enrich.job.EnrichState`: it is copied
into arrays for the instruments of a batch and back afterwards, which costs a
few microseconds per instrument and batch, so batches of thousands of events
are the efficient size.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from quoteflow.calendars import session_bounds
from quoteflow.enrich import _kernel as k
from quoteflow.events import (
    Alert,
    DeadLetter,
    EnrichedQuote,
    EnrichedTrade,
    Event,
    Quote,
    Trade,
    arrow_schema,
    batch_type,
    from_batch,
)
from quoteflow.indicators.candles import CandleInstrument, Ohlc, Window

if TYPE_CHECKING:
    from quoteflow.enrich.job import Enricher, EnrichState, Output

__all__ = ["enrich_columns"]

_HALF_DAY_NS = 43_200_000_000_000
_NO_TS = -(2**62)
_MOVES = (None, "Bullish", "Bearish", "Neutral")
_PRICE_RULES = {
    k.ALERT_ABOVE_LEVEL: "price_above_level",
    k.ALERT_BELOW_LEVEL: "price_below_level",
    k.ALERT_SESSION_HIGH: "session_high",
    k.ALERT_SESSION_LOW: "session_low",
    k.ALERT_MOVE_CHANGE: "move_change",
}


@dataclass
class _Columns:
    """The input columns the loop reads, and the batch's instruments."""

    names: list[str]
    providers: pa.Array
    code: np.ndarray
    ts: np.ndarray
    recv: np.ndarray
    price: np.ndarray
    size: np.ndarray


def _read_columns(batch: pa.RecordBatch, is_trade: bool) -> _Columns:
    encoded = pc.dictionary_encode(batch.column("instrument"))
    code = encoded.indices.to_numpy().astype(np.int64)
    ts = batch.column("ts_event").cast(pa.int64()).to_numpy()
    recv = batch.column("ts_recv").cast(pa.int64()).to_numpy()
    if is_trade:
        price = batch.column("price").cast(pa.float64()).to_numpy()
        size = batch.column("size").cast(pa.float64()).to_numpy()
    else:
        bid = batch.column("bid_price").fill_null(0.0).to_numpy()
        ask = batch.column("ask_price").fill_null(0.0).to_numpy()
        price = np.where((bid != 0) & (ask != 0), (bid + ask) / 2, np.nan)
        size = price
    return _Columns(
        encoded.dictionary.to_pylist(), batch.column("provider"), code, ts, recv, price, size
    )


class _Sessions:
    """The previous session of every hour in a batch, numbered as slots."""

    def __init__(self, job: Enricher, ts: np.ndarray) -> None:
        hours = ts // k.NS_PER_HOUR
        self.base = int(hours.min())
        self.hour_slot = np.zeros(int(hours.max()) - self.base + 1, dtype=np.int64)
        changes = np.flatnonzero(np.diff(hours)) + 1
        self.days: list[date] = []
        slot_of: dict[date, int] = {}
        for hour in sorted(set(hours[np.r_[0, changes]].tolist())):
            day = job.previous_closes.previous_session(hour * k.NS_PER_HOUR)
            if day not in slot_of:
                slot_of[day] = len(self.days)
                self.days.append(day)
            self.hour_slot[hour - self.base] = slot_of[day]
        self.ordinals = np.array([d.toordinal() for d in self.days], dtype=np.int64)


def _window_slots(job: Enricher) -> int:
    """Return ring slots enough for every window that can be open at once."""
    candles = job.candles
    if candles.sessions:  # session closes are more than half a day apart
        return candles.lateness_ns // _HALF_DAY_NS + 2
    return (candles.size_ns + candles.lateness_ns) // candles.advance_ns + 2


class _Arrays:
    """The state of a batch's instruments as arrays, gathered from and scattered to the state."""

    def __init__(self, job: Enricher, state: EnrichState, names: list[str]) -> None:
        m = len(names)
        self.job = job
        self.names = names
        self.slots = _window_slots(job)
        self.opens, self.closes = session_bounds(job.candles.calendar)
        self.last_trade = np.full(m, np.nan)
        self.last_mid = np.full(m, np.nan)
        self.max_ts = np.full(m, _NO_TS, dtype=np.int64)
        self.version = np.arange(m, dtype=np.int64)
        self.alert_price = np.full(m, np.nan)
        self.alert_session = np.full(m, -1, dtype=np.int64)
        self.alert_high = np.full(m, np.nan)
        self.alert_low = np.full(m, np.nan)
        self.alert_move = np.zeros(m, dtype=np.int64)
        self.windows_i = np.zeros((m, self.slots, k.WINDOW_INTS), dtype=np.int64)
        self.windows_f = np.zeros((m, self.slots, k.WINDOW_FLOATS))
        self.values = np.full((m, len(job.columns)), np.nan)
        self.instruments = [job.instrument_state(state, name) for name in names]
        column_of = {name: i for i, name in enumerate(job.columns)}
        for c, (name, inst) in enumerate(zip(names, self.instruments, strict=True)):
            self.last_trade[c] = _float(inst.last_trade)
            self.last_mid[c] = _float(inst.last_mid)
            a = inst.alerts
            self.alert_price[c] = _float(a.last_price)
            self.alert_session[c] = a.session
            self.alert_high[c], self.alert_low[c] = a.high, a.low
            self.alert_move[c] = _MOVES.index(a.last_move)
            for column, value in inst.values.items():
                self.values[c, column_of[column]] = value
            candle = state.candles.instruments.get(name)
            if candle is not None:
                self.max_ts[c] = candle.max_ts
                for start, window in candle.windows.items():
                    self._put_window(c, start, window)

    def window_index(self, start: int) -> int:
        """Return the index of the window starting at ``start`` (session number for 1d)."""
        if self.job.candles.sessions:
            return int(np.searchsorted(self.opens, start))
        return start // self.job.candles.advance_ns

    def _put_window(self, c: int, start: int, w: Window) -> None:
        s = self.window_index(start) % self.slots
        if self.windows_i[c, s, 0]:
            raise RuntimeError(f"candle windows {start} and {self.windows_i[c, s, 1]} share a slot")
        t, m = w.trades, w.mids
        self.windows_i[c, s] = (1, start, w.end, w.ts_recv, t.count, t.open_ts, t.close_ts,
                                m.count, m.open_ts, m.close_ts)  # fmt: skip
        self.windows_f[c, s] = (t.open, t.high, t.low, t.close, w.volume, w.notional,
                                m.open, m.high, m.low, m.close)  # fmt: skip

    def scatter(self, state: EnrichState, columns: _Columns) -> None:
        """Write the arrays back into ``state``; create candle state for new instruments."""
        candles = state.candles.instruments
        new = [c for c, name in enumerate(self.names) if name not in candles]
        if new:
            priced = np.flatnonzero(columns.price == columns.price)
            codes, first = np.unique(columns.code[priced], return_index=True)
            firsts = dict(zip(codes.tolist(), priced[first].tolist(), strict=True))
            for row, c in sorted((firsts[c], c) for c in new if c in firsts):
                candles[self.names[c]] = CandleInstrument(columns.providers[row].as_py())
        for c, (name, inst) in enumerate(zip(self.names, self.instruments, strict=True)):
            inst.last_trade = _optional(self.last_trade[c])
            inst.last_mid = _optional(self.last_mid[c])
            a = inst.alerts
            a.last_price = _optional(self.alert_price[c])
            a.session = int(self.alert_session[c])
            a.high, a.low = float(self.alert_high[c]), float(self.alert_low[c])
            a.last_move = _MOVES[self.alert_move[c]]
            candle = candles.get(name)
            if candle is not None:
                candle.max_ts = int(self.max_ts[c])
                candle.windows = self.windows(c)

    def windows(self, c: int) -> dict[int, Window]:
        """Return the open windows of instrument ``c`` by start, oldest first."""
        open_slots = np.flatnonzero(self.windows_i[c, :, 0])
        out = {}
        for s in sorted(open_slots.tolist(), key=lambda s: self.windows_i[c, s, 1]):
            out[int(self.windows_i[c, s, 1])] = _window(self.windows_i[c, s], self.windows_f[c, s])
        return out


def _window(ints: np.ndarray, floats: np.ndarray) -> Window:
    i, f = ints.tolist(), floats.tolist()
    trades = Ohlc(i[4], i[5], i[6], f[0], f[1], f[2], f[3])
    mids = Ohlc(i[7], i[8], i[9], f[6], f[7], f[8], f[9])
    return Window(i[2], i[3], trades, f[4], f[5], mids)


def _float(value: float | None) -> float:
    return np.nan if value is None else value


def _optional(value: float) -> float | None:
    return None if value != value else float(value)


def _closes(job: Enricher, names: list[str], days: list[date]) -> tuple[np.ndarray, np.ndarray]:
    closes = np.full((len(names), len(days)), np.nan)
    known = np.zeros(len(names), dtype=np.bool_)
    for c, name in enumerate(names):
        daily = job.previous_closes.daily_closes(name)
        known[c] = bool(daily)
        for slot, day in enumerate(days):
            closes[c, slot] = daily.get(day, np.nan)
    return closes, known


def _levels(job: Enricher, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    per_instrument = [job.settings.alerts.levels.get(name, []) for name in names]
    offsets = np.zeros(len(names) + 1, dtype=np.int64)
    np.cumsum([len(levels) for levels in per_instrument], out=offsets[1:])
    flat = np.array([v for levels in per_instrument for v in levels], dtype=np.float64)
    return offsets, flat


def enrich_columns(
    job: Enricher, batch: pa.RecordBatch, state: EnrichState
) -> tuple[list[Output | tuple[str, pa.RecordBatch]], EnrichState]:
    """Enrich an Arrow batch of quotes or trades; the enriched records come as one batch.

    Other record types pass by (no outputs). Bars, alerts and dead letters are
    records, in the order :meth:`Enricher.process` emits them.
    """
    kind = batch_type(batch.schema)
    if kind not in (Quote, Trade) or batch.num_rows == 0:
        return [], state
    is_trade = kind is Trade
    columns = _read_columns(batch, is_trade)
    n = batch.num_rows
    arrays = _Arrays(job, state, columns.names)
    sessions = _Sessions(job, columns.ts)
    closes, known = _closes(job, columns.names, sessions.days)
    settings = job.settings
    thresholds = np.array(
        [settings.thresholds_pct.get(name, settings.threshold_pct) for name in columns.names]
    )
    level_offsets, levels = _levels(job, columns.names)
    candles = job.candles
    if candles.sessions:
        session_index = np.searchsorted(arrays.opens, columns.ts, side="right") - 1
        inside = (session_index >= 0) & (columns.ts < arrays.closes[np.maximum(session_index, 0)])
        session_index = np.where(inside, session_index, -1)
        size_ns = advance_ns = hops = 1
    else:
        session_index = np.zeros(0, dtype=np.int64)
        size_ns, advance_ns = candles.size_ns, candles.advance_ns
        hops = size_ns // advance_ns
    counters = np.array([0, 0, len(columns.names), 0, 0, 0], dtype=np.int64)
    bars_i = np.empty((64, 2 + k.WINDOW_INTS), dtype=np.int64)
    bars_f = np.empty((64, k.WINDOW_FLOATS))
    alerts_i = np.empty((64, 3), dtype=np.int64)
    alerts_f = np.empty((64, 2))
    out_version = np.empty(n, dtype=np.int64)
    out_flag = np.empty(n, dtype=np.int8)
    out_behind = np.zeros(n, dtype=np.int64)
    out_price, out_previous, out_change = np.empty(n), np.empty(n), np.empty(n)
    out_move = np.empty(n, dtype=np.int8)
    out_missing = np.empty(n, dtype=np.int64)
    done = 0
    while True:
        done = k.enrich_batch(
        done, columns.code, columns.ts, columns.recv, columns.price, columns.size, is_trade,
        settings.price == "trade", not candles.sessions, size_ns, advance_ns, hops,
        candles.lateness_ns, session_index, arrays.opens, arrays.closes,
        sessions.base, sessions.hour_slot, sessions.ordinals, closes, known, thresholds,
        level_offsets, levels, settings.alerts.session_extremes, settings.alerts.move_changes,
        arrays.last_trade, arrays.last_mid, arrays.max_ts, arrays.version, arrays.alert_price,
        arrays.alert_session, arrays.alert_high, arrays.alert_low, arrays.alert_move,
        arrays.windows_i, arrays.windows_f, counters, bars_i, bars_f, alerts_i, alerts_f,
        out_version, out_flag, out_behind, out_price, out_previous, out_change, out_move,
        out_missing,
        )  # fmt: skip
        if done == n:
            break
        bars_i, bars_f = _doubled(bars_i), _doubled(bars_f)
        alerts_i, alerts_f = _doubled(alerts_i), _doubled(alerts_f)
    n_bars, n_alerts = int(counters[4]), int(counters[5])
    if counters[3]:
        raise RuntimeError("candle windows collided in their ring slots")
    arrays.scatter(state, columns)
    state.candles.late += int(counters[0])
    state.candles.outside_session += int(counters[1])

    keyed: list[tuple[tuple[int, int, int], Output]] = []
    values = [arrays.values]
    for b in range(n_bars):
        event_index, c = int(bars_i[b, 0]), int(bars_i[b, 1])
        name = columns.names[c]
        window = _window(bars_i[b, 2:], bars_f[b])
        bar = candles.bar(name, state.candles.instruments[name], int(bars_i[b, 3]), window)
        for output in job.on_bar(state, bar):
            keyed.append(((event_index, 0, len(keyed)), output))
        row = np.full((1, len(job.columns)), np.nan)
        for column, value in arrays.instruments[c].values.items():
            row[0, job.columns.index(column)] = value
        values.append(row)

    events = _events(batch, kind, np.r_[np.flatnonzero(out_flag), alerts_i[:n_alerts, 0]])
    for i in np.flatnonzero(out_flag).tolist():
        if out_flag[i] == k.FLAG_LATE:
            letter = candles.late_letter(events[i], int(out_behind[i]))
        else:
            letter = candles.outside_letter(events[i])
        keyed.append(((i, 0, len(keyed)), (DeadLetter.TOPIC, letter)))
    for a in range(n_alerts):
        i, rule = int(alerts_i[a, 0]), _PRICE_RULES[int(alerts_i[a, 1])]
        moves = None
        if rule == "move_change":
            moves = (_MOVES[int(alerts_i[a, 2])], _MOVES[int(out_move[i])])
        alert = job.rules.price_alert(events[i], rule, _optional(alerts_f[a, 0]),
                                      _optional(alerts_f[a, 1]), moves)  # fmt: skip
        keyed.append(((i, 2, len(keyed)), (Alert.TYPE, alert)))
    keyed.sort(key=lambda item: item[0])

    reasons = _missing_reasons(job, sessions.days)
    for code, count in enumerate(np.bincount(out_missing).tolist()):
        if code and count:
            state.missing[reasons[code]] += count
    enriched = _enriched_batch(
        job, batch, kind, np.concatenate(values)[out_version],
        (out_price, out_previous, out_change, out_move, out_missing), reasons,
    )  # fmt: skip
    topic = (EnrichedTrade if is_trade else EnrichedQuote).TYPE
    return [(topic, enriched), *(output for _, output in keyed)], state


def _doubled(buffer: np.ndarray) -> np.ndarray:
    bigger = np.empty((2 * len(buffer), buffer.shape[1]), dtype=buffer.dtype)
    bigger[: len(buffer)] = buffer
    return bigger


def _events(batch: pa.RecordBatch, kind: type[Event], rows: np.ndarray) -> dict[int, Event]:
    """Return the records of the given rows (few: dead letters and alerts), by row."""
    rows = np.unique(rows)
    if not len(rows):
        return {}
    return dict(zip(rows.tolist(), from_batch(batch.take(pa.array(rows)), kind), strict=True))


def _missing_reasons(job: Enricher, days: list[date]) -> list[str | None]:
    no_price = "no trade yet" if job.settings.price == "trade" else "no quote yet"
    return [
        None,
        no_price,
        "no daily closes for the instrument",
        "previous close is not positive",
        *(f"no close for {day.isoformat()}" for day in days),
    ]


def _nullable(values: np.ndarray) -> pa.Array:
    return pa.array(values, mask=np.isnan(values))


def _enriched_batch(
    job: Enricher,
    batch: pa.RecordBatch,
    kind: type[Event],
    indicator_values: np.ndarray,
    outputs: tuple[np.ndarray, ...],
    reasons: list[str | None],
) -> pa.RecordBatch:
    price, previous, change, move, missing = outputs
    cls = EnrichedTrade if kind is Trade else EnrichedQuote
    schema = arrow_schema(cls)
    present = ~np.isnan(indicator_values)
    offsets = np.zeros(len(present) + 1, dtype=np.int32)
    np.cumsum(present.sum(axis=1), out=offsets[1:])
    _, column = np.nonzero(present)
    indicators = pa.MapArray.from_arrays(
        pa.array(offsets),
        pa.array(job.columns, pa.string()).take(pa.array(column)),
        pa.array(indicator_values[present]),
    )
    arrays = [batch.column(field.name).cast(field.type) for field in arrow_schema(kind)]
    arrays += [
        _nullable(price),
        _nullable(previous),
        _nullable(change),
        pa.array(_MOVES, pa.string()).take(pa.array(move)),
        pa.array(reasons, pa.string()).take(pa.array(missing)),
        indicators,
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
