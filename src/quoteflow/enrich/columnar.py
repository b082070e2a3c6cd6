"""The columnar enrichment path: an Arrow batch of quotes or trades in, Arrow out.

It gives exactly the outputs of :meth:`quoteflow.enrich.Enricher.process` on
the same events, topic by topic, and leaves the same state behind, so the two
paths can take turns on one stream. The per-event work (candle windows, the
move, price alerts) runs in one compiled loop over the columns
(:mod:`quoteflow.enrich._kernel`) on state arrays kept between batches
(:mod:`quoteflow.enrich._arrays`); the rare work (a closing bar updating the
indicators and the bar alerts, dead letters, alert records) runs in Python
with the reference code. The enriched records leave as one Arrow batch.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from quoteflow.enrich import _kernel as k
from quoteflow.enrich._arrays import MOVES, StateArrays, optional, window
from quoteflow.enrich._arrow import maps_by_row, null_strings, strings_by_code
from quoteflow.events import (
    Alert,
    Bar,
    DeadLetter,
    EnrichedQuote,
    EnrichedTrade,
    Event,
    Quote,
    Trade,
    arrow_schema,
    batch_type,
    conform,
    from_batch,
)
from quoteflow.indicators.candles import CandleInstrument

if TYPE_CHECKING:
    from quoteflow.enrich.previous_close import PreviousCloses
    from quoteflow.enrich.state import EnrichJob, EnrichState, Output

__all__ = ["MarketRun", "enrich_columns", "enrich_run"]

_HOURS_SPANNED = 48
_FIRST_ROWS = 1024  # where a batch's instruments are looked for first

_PRICE_RULES = {
    k.ALERT_ABOVE_LEVEL: "price_above_level",
    k.ALERT_BELOW_LEVEL: "price_below_level",
    k.ALERT_SESSION_HIGH: "session_high",
    k.ALERT_SESSION_LOW: "session_low",
    k.ALERT_MOVE_CHANGE: "move_change",
}


@dataclass(frozen=True)
class MarketRun:
    """Quotes and trades in offset order: the two batches, and which event is which.

    ``kinds`` holds 1 for a trade and 0 for a quote, per event in order; None when
    the run holds one kind only. Each batch keeps its own events' order.
    """

    quotes: pa.RecordBatch | None
    trades: pa.RecordBatch | None
    kinds: np.ndarray | None = None

    @classmethod
    def of(cls, batch: pa.RecordBatch) -> MarketRun:
        """Return the run of one batch of quotes or trades."""
        if batch_type(batch.schema) is Trade:
            return cls(None, batch)
        return cls(batch, None)

    @property
    def num_rows(self) -> int:
        """Return the number of events."""
        return sum(b.num_rows for b in (self.quotes, self.trades) if b is not None)

    def parts(self) -> list[tuple[type[Quote] | type[Trade], pa.RecordBatch, np.ndarray | None]]:
        """Return each kind's batch with its events' places in the run (None: all of them)."""
        kinds = self.kinds
        parts = []
        for kind, batch, flag in ((Quote, self.quotes, 0), (Trade, self.trades, 1)):
            if batch is not None and batch.num_rows:
                places = None if kinds is None else np.flatnonzero(kinds == flag)
                parts.append((kind, batch, places))
        return parts


@dataclass
class _Columns:
    """The input columns the loop reads, in the run's order; ``code`` numbers instruments.

    ``price`` and ``size`` are a trade's; for quotes they hold the bid and ask
    prices, 0 where missing (see :func:`quoteflow.enrich._kernel.compiled_loop`).
    ``kinds`` is as in :class:`MarketRun` (empty when ``is_trade`` tells the kind
    of every event); ``sources`` gives each event's batch and row.
    """

    is_trade: bool
    kinds: np.ndarray
    code: np.ndarray
    ts: np.ndarray
    recv: np.ndarray
    price: np.ndarray
    size: np.ndarray
    sources: _Sources

    @property
    def mixed(self) -> bool:
        """Return whether the run holds both quotes and trades."""
        return len(self.kinds) > 0

    def prices(self, rows: slice) -> np.ndarray:
        """Return the trade price or quote mid (NaN if none) of the events in ``rows``."""
        price, other = self.price[rows], self.size[rows]
        mid = np.where((price != 0) & (other != 0), (price + other) / 2, np.nan)
        if self.mixed:
            return np.where(self.kinds[rows] == 1, price, mid)
        return price if self.is_trade else mid


class _Sources:
    """Where each event of a run comes from: its kind's batch, and its row there."""

    def __init__(self, run: MarketRun) -> None:
        self.parts = run.parts()
        n = run.num_rows
        self.part = np.zeros(n, dtype=np.int8)
        self.row = np.arange(n, dtype=np.int64)
        if len(self.parts) > 1:
            for number, (_, batch, places) in enumerate(self.parts):
                self.part[places] = number
                self.row[places] = np.arange(batch.num_rows)

    def provider(self, index: int) -> str:
        """Return the provider of event ``index``."""
        _, batch, _ = self.parts[self.part[index]]
        return batch.column("provider")[int(self.row[index])].as_py()

    def events(self, indexes: np.ndarray) -> dict[int, Event]:
        """Return the events at ``indexes`` (run order) as records."""
        found: dict[int, Event] = {}
        for number, (kind, batch, _) in enumerate(self.parts):
            mine = indexes[self.part[indexes] == number]
            if len(mine):
                records = from_batch(batch.take(pa.array(self.row[mine])), kind)
                found.update(zip(mine.tolist(), records, strict=True))
        return found


def _read_columns(run: MarketRun, codes: list[np.ndarray]) -> _Columns:
    """Return the loop's columns; ``codes`` are the instrument codes of each part's events."""
    sources = _Sources(run)
    parts = sources.parts
    if len(parts) == 1:
        kind, batch, _ = parts[0]
        return _Columns(kind is Trade, np.zeros(0, dtype=np.int8), codes[0],
                        *_part_columns(kind, batch), sources)  # fmt: skip
    assert run.kinds is not None
    n = run.num_rows
    code = np.empty(n, dtype=np.int64)
    ts, recv = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    price, size = np.empty(n), np.empty(n)
    for (kind, batch, places), part_code in zip(parts, codes, strict=True):
        code[places] = part_code
        ts[places], recv[places], price[places], size[places] = _part_columns(kind, batch)
    kinds = run.kinds.astype(np.int8, copy=False)
    return _Columns(False, kinds, code, ts, recv, price, size, sources)


def _part_columns(kind: type[Event], batch: pa.RecordBatch) -> tuple[np.ndarray, ...]:
    """Return ts_event, ts_recv and the two price columns of a batch of quotes or trades."""
    ts = batch.column("ts_event").to_numpy().view(np.int64)
    recv = batch.column("ts_recv").to_numpy().view(np.int64)
    if kind is Trade:
        price = batch.column("price").cast(pa.float64()).to_numpy()
        size = batch.column("size").cast(pa.float64()).to_numpy()
        return ts, recv, price, size
    return ts, recv, _filled(batch.column("bid_price")), _filled(batch.column("ask_price"))


def _filled(column: pa.Array) -> np.ndarray:
    """Return a float column as NumPy with nulls as 0 (zero-copy when there are none)."""
    if column.null_count:
        column = column.fill_null(0.0)
    return column.to_numpy()


class _Sessions:
    """The previous session of every hour of a batch, numbered as slots.

    Immutable: batches within the same hours share one (see :func:`_batch_sessions`).
    """

    def __init__(self, previous_closes: PreviousCloses, hours: list[int]) -> None:
        self.previous_closes = previous_closes
        self.base = hours[0]
        self.hour_slot = np.zeros(hours[-1] - self.base + 1, dtype=np.int64)
        self.days: list[date] = []
        slot_of: dict[date, int] = {}
        for hour in hours:
            day = previous_closes.previous_session(hour * k.NS_PER_HOUR)
            if day not in slot_of:
                slot_of[day] = len(self.days)
                self.days.append(day)
            self.hour_slot[hour - self.base] = slot_of[day]
        self.ordinals = np.array([d.toordinal() for d in self.days], dtype=np.int64)
        self._closes: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray]] = {}
        self._reasons: dict[str, tuple[str | None, ...]] = {}

    def closes(self, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Return the close per (instrument, slot), NaN if unknown, and who has any close."""
        key = tuple(names)
        cached = self._closes.get(key)
        if cached is not None:
            return cached
        closes = np.full((len(names), len(self.days)), np.nan)
        known = np.zeros(len(names), dtype=np.bool_)
        for c, name in enumerate(names):
            daily = self.previous_closes.daily_closes(name)
            known[c] = bool(daily)
            for slot, day in enumerate(self.days):
                closes[c, slot] = daily.get(day, np.nan)
        self._closes[key] = closes, known
        return closes, known

    def missing_reasons(self, price: str) -> tuple[str | None, ...]:
        """Return the reason text of each kernel ``MISSING_*`` code, moves priced by ``price``."""
        reasons = self._reasons.get(price)
        if reasons is None:
            self._reasons[price] = reasons = (
                None,
                "no trade yet" if price == "trade" else "no quote yet",
                "no daily closes for the instrument",
                "previous close is not positive",
                *(f"no close for {day.isoformat()}" for day in self.days),
            )
        return reasons


@functools.lru_cache(maxsize=64)
def _sessions_between(previous_closes: PreviousCloses, first: int, last: int) -> _Sessions:
    return _Sessions(previous_closes, list(range(first, last + 1)))


def _batch_sessions(previous_closes: PreviousCloses, ts: np.ndarray) -> _Sessions:
    """Return the sessions of a batch's hours.

    These are all hours from its first event to its last, or only the hours it
    has events in when those are more than ``_HOURS_SPANNED`` apart.
    """
    low, high = k.span(ts)
    first, last = low // k.NS_PER_HOUR, high // k.NS_PER_HOUR
    if last - first <= _HOURS_SPANNED:
        return _sessions_between(previous_closes, first, last)
    return _Sessions(previous_closes, np.unique(ts // k.NS_PER_HOUR).tolist())


@dataclass
class _Results:
    """What the loop wrote: per-event columns, closed bars and price alerts.

    ``behind`` (how far behind the watermark) is written only for late events.
    """

    version: np.ndarray
    flag: np.ndarray
    behind: np.ndarray
    price: np.ndarray
    previous: np.ndarray
    change: np.ndarray
    move: np.ndarray
    missing: np.ndarray
    bars_i: np.ndarray
    bars_f: np.ndarray
    alerts_i: np.ndarray
    alerts_f: np.ndarray
    counters: np.ndarray

    def of_events(self, places: np.ndarray | None) -> _Results:
        """Return the results with the per-event columns of ``places`` only (None: all)."""
        if places is None:
            return self
        taken = {name: getattr(self, name)[places] for name in _PER_EVENT}
        return dataclasses.replace(self, **taken)


_PER_EVENT = ("version", "flag", "behind", "price", "previous", "change", "move", "missing")


def _doubled(buffer: np.ndarray) -> np.ndarray:
    bigger = np.empty((2 * len(buffer), buffer.shape[1]), dtype=buffer.dtype)
    bigger[: len(buffer)] = buffer
    return bigger


def _run(job: EnrichJob, arrays: StateArrays, columns: _Columns, sessions: _Sessions) -> _Results:
    """Run the compiled loop over the batch, growing the bar and alert buffers as needed."""
    n = len(columns.code)
    candles, settings = job.candles, job.settings
    if candles.sessions:
        index = np.searchsorted(arrays.opens, columns.ts, side="right") - 1
        inside = (index >= 0) & (columns.ts < arrays.closes[np.maximum(index, 0)])
        session_index = np.where(inside, index, -1)
        size_ns = advance_ns = hops = 1
    else:
        session_index = np.zeros(0, dtype=np.int64)
        size_ns, advance_ns = candles.size_ns, candles.advance_ns
        hops = size_ns // advance_ns
    closes, known = sessions.closes(arrays.names)
    r = _Results(
        np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int8), np.empty(n, dtype=np.int64),
        np.empty(n), np.empty(n), np.empty(n), np.empty(n, dtype=np.int8),
        np.empty(n, dtype=np.int64),
        np.empty((64, 2 + k.WINDOW_INTS), dtype=np.int64), np.empty((64, k.WINDOW_FLOATS)),
        np.empty((64, 3), dtype=np.int64), np.empty((64, 2)),
        np.array([0, 0, len(arrays.names), 0, 0, 0, 0], dtype=np.int64),
    )  # fmt: skip
    version = np.arange(len(arrays.names), dtype=np.int64)
    alerts = settings.alerts
    price_alerts = len(arrays.levels) > 0 or alerts.session_extremes or alerts.move_changes
    loop = k.compiled_loop(columns.is_trade, settings.price == "trade", not candles.sessions,
                           price_alerts, columns.mixed)  # fmt: skip
    done = 0
    while True:
        done = loop(
            done, columns.kinds, columns.code, columns.ts, columns.recv, columns.price,
            columns.size, size_ns, advance_ns, hops, candles.lateness_ns, session_index,
            arrays.opens, arrays.closes,
            sessions.base, sessions.hour_slot, sessions.ordinals, closes, known,
            arrays.thresholds, arrays.level_offsets, arrays.levels,
            alerts.session_extremes, alerts.move_changes,
            arrays.last_trade, arrays.last_mid, arrays.max_ts, version, arrays.alert_price,
            arrays.alert_session, arrays.alert_high, arrays.alert_low, arrays.alert_move,
            arrays.windows_i, arrays.windows_f, r.counters, r.bars_i, r.bars_f, r.alerts_i,
            r.alerts_f, r.version, r.flag, r.behind, r.price, r.previous, r.change, r.move,
            r.missing,
        )  # fmt: skip
        if done == n:
            break
        r.bars_i, r.bars_f = _doubled(r.bars_i), _doubled(r.bars_f)
        r.alerts_i, r.alerts_f = _doubled(r.alerts_i), _doubled(r.alerts_f)
    if r.counters[3]:
        raise RuntimeError("candle windows collided in their ring slots")
    return r


def _state_arrays(
    job: EnrichJob, state: EnrichState, instruments: pa.Array
) -> tuple[StateArrays, np.ndarray]:
    """Return the state arrays kept on ``state`` and the instrument codes of the batch.

    The arrays are gathered afresh when they lack one of the batch's instruments.
    """
    arrays = state.arrays
    if arrays is not None and arrays.settings is not job.settings:  # another job's: regather
        arrays = None
    if arrays is not None:
        code = arrays.codes.codes(instruments)
        if code is not None:
            return arrays, code
    first = pc.unique(instruments.slice(0, _FIRST_ROWS).drop_null()).to_pylist()
    if arrays is None or not all(name in arrays.index for name in first):
        arrays = _gathered(job, state, arrays, first)  # a batch's names nearly all come early
        code = arrays.codes.codes(instruments)
        if code is not None:
            return arrays, code
    encoded = pc.dictionary_encode(instruments)
    names = encoded.dictionary.to_pylist()
    if not all(name in arrays.index for name in names):
        arrays = _gathered(job, state, arrays, names)
    code = np.array([arrays.index[n] for n in names], dtype=np.int64)[encoded.indices.to_numpy()]
    return arrays, code


def _gathered(
    job: EnrichJob, state: EnrichState, arrays: StateArrays | None, names: list[str]
) -> StateArrays:
    """Return new state arrays, kept on ``state``, for the instruments of ``arrays``, ``names``."""
    state.sync()
    known = arrays.names if arrays is not None else []
    state.arrays = StateArrays(job, state, list(dict.fromkeys([*known, *names])))
    return state.arrays


def _add_candle_instruments(state: EnrichState, columns: _Columns, arrays: StateArrays) -> None:
    """Start candle state for instruments priced for the first time, in order of first price."""
    if arrays.all_candles:
        return
    candles = state.candles.instruments
    new = {c for c, name in enumerate(arrays.names) if name not in candles}
    first_rows: dict[int, int] = {}
    start, length = 0, _FIRST_ROWS
    while new and start < len(columns.code):  # instruments mostly show up early in a batch
        rows = slice(start, start + length)
        prices = columns.prices(rows)
        priced = np.flatnonzero(prices == prices)
        codes, first = np.unique(columns.code[rows][priced], return_index=True)
        for row, c in zip((priced[first] + start).tolist(), codes.tolist(), strict=True):
            if c in new:
                new.remove(c)
                first_rows[row] = c
        start, length = start + length, 2 * length
    for row, c in sorted(first_rows.items()):
        candles[arrays.names[c]] = CandleInstrument(columns.sources.provider(row))
    arrays.all_candles = not new


def enrich_columns(
    job: EnrichJob, batch: pa.RecordBatch, state: EnrichState
) -> tuple[list[Output | tuple[str, pa.RecordBatch]], EnrichState]:
    """Enrich an Arrow batch of quotes or trades (see :func:`enrich_run`).

    Other record types pass by (no outputs).
    """
    if batch_type(batch.schema) not in (Quote, Trade) or batch.num_rows == 0:
        return [], state
    return enrich_run(job, MarketRun.of(batch), state)


def enrich_run(
    job: EnrichJob, run: MarketRun, state: EnrichState
) -> tuple[list[Output | tuple[str, pa.RecordBatch]], EnrichState]:
    """Enrich a run of quotes and trades; the enriched records of each kind come as one batch.

    Bars, alerts and dead letters are records, in the order of the events that
    gave them; then come the bars corrected by amendments that waited for trades.
    """
    parts = run.parts()
    if not parts:
        return [], state
    codes = []
    for _, batch, _ in parts:  # a later part may add instruments: codes already given stay
        arrays, code = _state_arrays(job, state, batch.column("instrument"))
        codes.append(code)
    columns = _read_columns(run, codes)
    sessions = _batch_sessions(job.previous_closes, columns.ts)
    r = _run(job, arrays, columns, sessions)
    _add_candle_instruments(state, columns, arrays)
    state.candles.late += int(r.counters[0])
    state.candles.outside_session += int(r.counters[1])
    reasons = None  # the texts of the missing-move codes, needed when a move is missing
    if r.counters[6] != len(columns.code):
        reasons = sessions.missing_reasons(job.settings.price)
        for reason, count in zip(reasons, np.bincount(r.missing).tolist(), strict=False):
            if reason is not None and count:
                state.missing[reason] += count

    keyed: list[tuple[tuple[int, int, int], Output]] = []
    values = arrays.values.copy()
    n_bars = int(r.counters[4])
    bars: list[Bar] = []
    rows = zip(r.bars_i[:n_bars].tolist(), r.bars_f[:n_bars].tolist(), strict=True)
    for ints, floats in rows:  # the indicators advance below, all bars at once
        event_index, c = ints[0], ints[1]
        name = arrays.names[c]
        w = window(ints[2:], floats)
        bar = job.candles.bar(name, state.candles.instruments[name], ints[3], w)
        bars.append(bar)
        for output in job.bar_outputs(arrays.instruments[c].alerts, bar):
            keyed.append(((event_index, 0, len(keyed)), output))
    if bars:
        values = np.concatenate([values, arrays.advance_indicators(r.bars_i[:n_bars, 1], bars)])
    keyed += _records(job, columns.sources, r)
    keyed.sort(key=lambda item: item[0])
    outputs: list[Output | tuple[str, pa.RecordBatch]] = []
    counted = None
    for kind, batch, places in parts:
        mine = r.of_events(places)
        topic = (EnrichedTrade if kind is Trade else EnrichedQuote).TYPE
        outputs.append((topic, _enriched_batch(job, batch, kind, values, mine, reasons)))
        if kind is Trade:  # the trades that went into their candles, for corrections later
            late_or_outside = r.counters[0] or r.counters[1]
            counted = batch.filter(pa.array(mine.flag == 0)) if late_or_outside else batch
    outputs += [output for _, output in keyed]
    if counted is not None:
        outputs += job.remember_trades(state, counted)
    return outputs, state


def _records(
    job: EnrichJob, sources: _Sources, r: _Results
) -> list[tuple[tuple[int, int, int], Output]]:
    """Return the dead letters and price alerts, keyed to sort with the bars."""
    n_alerts = int(r.counters[5])
    if not (n_alerts or r.counters[0] or r.counters[1]):  # no alerts, late or outside events
        return []
    flagged = np.flatnonzero(r.flag)
    rows = np.unique(np.r_[flagged, r.alerts_i[:n_alerts, 0]])
    if not len(rows):
        return []
    events = sources.events(rows)
    keyed: list[tuple[tuple[int, int, int], Output]] = []
    for i in flagged.tolist():
        if r.flag[i] == k.FLAG_LATE:
            letter = job.candles.late_letter(events[i], int(r.behind[i]))
        else:
            letter = job.candles.outside_letter(events[i])
        keyed.append(((i, 0, -1), (DeadLetter.TOPIC, letter)))
    for a in range(n_alerts):
        i, rule = int(r.alerts_i[a, 0]), _PRICE_RULES[int(r.alerts_i[a, 1])]
        moves = None
        if rule == "move_change":
            moves = (MOVES[int(r.alerts_i[a, 2])], MOVES[int(r.move[i])])
        value, threshold = optional(r.alerts_f[a, 0]), optional(r.alerts_f[a, 1])
        alert = job.rules.price_alert(events[i], rule, value, threshold, moves)
        keyed.append(((i, 2, a), (Alert.TYPE, alert)))
    return keyed


def _nullable(values: np.ndarray, complete: bool) -> pa.Array:
    """Return a float column, null where NaN; ``complete`` says there is no NaN."""
    if complete:
        return pa.Array.from_buffers(pa.float64(), len(values), [None, pa.py_buffer(values)])
    missing = np.isnan(values)
    return pa.array(values, mask=missing) if missing.any() else pa.array(values)


def _enriched_batch(
    job: EnrichJob,
    batch: pa.RecordBatch,
    kind: type[Event],
    version_values: np.ndarray,
    r: _Results,
    reasons: tuple[str | None, ...] | None,
) -> pa.RecordBatch:
    """Return the enriched batch; ``version_values`` holds the indicator values per version.

    ``reasons`` are the texts of the missing-move codes, None when every move is known.
    """
    batch = conform(batch, kind)
    complete = reasons is None  # then no price, close or change is NaN
    added = [
        _nullable(r.price, complete),
        _nullable(r.previous, complete),
        _nullable(r.change, complete),
        strings_by_code(MOVES, r.move),
        null_strings(len(r.missing)) if complete else strings_by_code(reasons, r.missing),
        maps_by_row(job.columns, version_values, r.version),
    ]
    schema = arrow_schema(EnrichedTrade if kind is Trade else EnrichedQuote)
    return pa.RecordBatch.from_arrays([*batch.columns, *added], schema=schema)
