"""The enrichment state of a set of instruments as arrays, for the compiled loop.

:class:`StateArrays` is gathered once from an
:class:`~quoteflow.enrich.state.EnrichState` and then kept on it while Arrow
batches keep coming, so steady columnar processing pays nothing per batch for
it. While it is kept, the state's per-instrument candle windows, indicators
and their latest values, last prices and price-alert memory are stale;
:meth:`StateArrays.scatter` writes them back, and the job does that before
anything else reads them (the record path, a flush, a snapshot).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from quoteflow.calendars import session_bounds
from quoteflow.enrich import _kernel as k
from quoteflow.enrich._arrow import StringCodes
from quoteflow.indicators._stacked import BAR_INPUTS
from quoteflow.indicators.candles import Ohlc, Window

if TYPE_CHECKING:
    from quoteflow.enrich.config import EnrichSettings
    from quoteflow.enrich.state import EnrichJob, EnrichState
    from quoteflow.events import Bar

__all__ = ["MOVES", "StateArrays", "optional", "window"]

MOVES = (None, "Bullish", "Bearish", "Neutral")
_NO_TS = -(2**62)
_HALF_DAY_NS = 43_200_000_000_000


def optional(value: float) -> float | None:
    """Return NaN as None, any other value as a Python float."""
    return None if value != value else float(value)


def _float(value: float | None) -> float:
    return np.nan if value is None else value


def window(i: list[int], f: list[float]) -> Window:
    """Return the candle window stored in one row of window ints and floats, as lists."""
    trades = Ohlc(i[4], i[5], i[6], f[0], f[1], f[2], f[3])
    mids = Ohlc(i[7], i[8], i[9], f[6], f[7], f[8], f[9])
    return Window(i[2], i[3], trades, f[4], f[5], mids)


def _window_slots(job: EnrichJob) -> int:
    """Return ring slots enough for every window that can be open at once."""
    candles = job.candles
    if candles.sessions:  # session closes are more than half a day apart
        return candles.lateness_ns // _HALF_DAY_NS + 2
    return (candles.size_ns + candles.lateness_ns) // candles.advance_ns + 2


class StateArrays:
    """Per-instrument state arrays (row = instrument) gathered from an ``EnrichState``."""

    def __init__(self, job: EnrichJob, state: EnrichState, names: list[str]) -> None:
        m = len(names)
        self.settings: EnrichSettings = job.settings
        self.names = names
        self.index = {name: c for c, name in enumerate(names)}
        self.codes = StringCodes(names)
        self.sessions = job.candles.sessions
        self.advance_ns = job.candles.advance_ns
        self.slots = _window_slots(job)
        self.opens, self.closes = session_bounds(job.candles.calendar)
        self.thresholds = np.array(
            [self.settings.thresholds_pct.get(n, self.settings.threshold_pct) for n in names]
        )
        per_instrument = [self.settings.alerts.levels.get(name, []) for name in names]
        self.level_offsets = np.zeros(m + 1, dtype=np.int64)
        np.cumsum([len(levels) for levels in per_instrument], out=self.level_offsets[1:])
        self.levels = np.array([v for levels in per_instrument for v in levels], dtype=np.float64)
        self.last_trade = np.full(m, np.nan)
        self.last_mid = np.full(m, np.nan)
        self.max_ts = np.full(m, _NO_TS, dtype=np.int64)
        self.alert_price = np.full(m, np.nan)
        self.alert_session = np.full(m, -1, dtype=np.int64)
        self.alert_high = np.full(m, np.nan)
        self.alert_low = np.full(m, np.nan)
        self.alert_move = np.zeros(m, dtype=np.int64)
        self.all_candles = False  # whether every instrument has candle state (it is never dropped)
        self.windows_i = np.zeros((m, self.slots, k.WINDOW_INTS), dtype=np.int64)
        self.windows_f = np.zeros((m, self.slots, k.WINDOW_FLOATS))
        self.columns = job.columns
        self.values = np.full((m, len(job.columns)), np.nan)
        self.instruments = [job.instrument_state(state, name) for name in names]
        self.indicators = job.stacked
        self.indicator_states = self.indicators.gather([i.indicators for i in self.instruments])
        for c, (name, inst) in enumerate(zip(names, self.instruments, strict=True)):
            self.last_trade[c] = _float(inst.last_trade)
            self.last_mid[c] = _float(inst.last_mid)
            a = inst.alerts
            self.alert_price[c] = _float(a.last_price)
            self.alert_session[c] = a.session
            self.alert_high[c], self.alert_low[c] = a.high, a.low
            self.alert_move[c] = MOVES.index(a.last_move)
            for column, value in inst.values.items():
                self.values[c, self.columns.index(column)] = value
            candle = state.candles.instruments.get(name)
            if candle is not None:
                self.max_ts[c] = candle.max_ts
                for start, w in candle.windows.items():
                    self._put_window(c, start, w)

    def advance_indicators(self, codes: np.ndarray, bars: list[Bar]) -> np.ndarray:
        """Update instrument ``codes[b]``'s indicators with ``bars[b]``, bars in order.

        Returns the indicator values of that instrument after each bar, a row each.
        """
        fields = np.array([[getattr(bar, f) for bar in bars] for f in BAR_INPUTS])
        return self.indicators.advance(self.indicator_states, self.values, codes, fields)

    def _window_index(self, start: int) -> int:
        if self.sessions:
            return int(np.searchsorted(self.opens, start))
        return start // self.advance_ns

    def _put_window(self, c: int, start: int, w: Window) -> None:
        s = self._window_index(start) % self.slots
        if self.windows_i[c, s, 0]:
            raise RuntimeError(f"candle windows {start} and {self.windows_i[c, s, 1]} share a slot")
        t, m = w.trades, w.mids
        self.windows_i[c, s] = (1, start, w.end, w.ts_recv, t.count, t.open_ts, t.close_ts,
                                m.count, m.open_ts, m.close_ts)  # fmt: skip
        self.windows_f[c, s] = (t.open, t.high, t.low, t.close, w.volume, w.notional,
                                m.open, m.high, m.low, m.close)  # fmt: skip

    def scatter(self, state: EnrichState) -> None:
        """Write the arrays back into ``state``."""
        candles = state.candles.instruments
        self.indicators.scatter(self.indicator_states, [i.indicators for i in self.instruments])
        for c, (name, inst) in enumerate(zip(self.names, self.instruments, strict=True)):
            row = zip(self.columns, self.values[c].tolist(), strict=True)
            inst.values = {column: value for column, value in row if value == value}
            inst.last_trade = optional(self.last_trade[c])
            inst.last_mid = optional(self.last_mid[c])
            a = inst.alerts
            a.last_price = optional(self.alert_price[c])
            a.session = int(self.alert_session[c])
            a.high, a.low = float(self.alert_high[c]), float(self.alert_low[c])
            a.last_move = MOVES[self.alert_move[c]]
            candle = candles.get(name)
            if candle is not None:
                candle.max_ts = int(self.max_ts[c])
                candle.windows = self._windows(c)

    def _windows(self, c: int) -> dict[int, Window]:
        """Return the open windows of instrument ``c`` by start, oldest first."""
        ints, floats = self.windows_i[c], self.windows_f[c]
        open_slots = sorted(np.flatnonzero(ints[:, 0]).tolist(), key=lambda s: ints[s, 1])
        return {int(ints[s, 1]): window(ints[s].tolist(), floats[s].tolist()) for s in open_slots}
