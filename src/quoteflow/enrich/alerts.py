"""Alert rules: crossovers, RSI levels, volume spikes, price levels, session extremes, moves.

Rules on candles (SMA crossover, RSI crossing its levels, volume spike) fire
when a bar closes and carry the bar's timestamps; rules on prices (a configured
level crossed, a new session high or low, the previous-close move changing
state) fire on the quote or trade that caused them and carry its timestamps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import msgspec

from quoteflow.enrich.config import AlertSettings
from quoteflow.events import Alert, Bar, Event
from quoteflow.indicators import RSI, SMA, Indicator

__all__ = ["AlertRules", "AlertState"]


@dataclass
class AlertState:
    """One instrument's alert memory."""

    indicators: list[Indicator]
    cross: int = 0
    rsi: float = math.nan
    volume_average: float = math.nan
    last_price: float | None = None
    session: int = -1
    high: float = math.nan
    low: float = math.nan
    last_move: str | None = None


class _Snapshot(msgspec.Struct, array_like=True):
    indicators: list[bytes]
    cross: int
    rsi: float
    volume_average: float
    last_price: float | None
    session: int
    high: float
    low: float
    last_move: str | None


class AlertRules:
    """Evaluate the configured rules; one :class:`AlertState` per instrument."""

    def __init__(self, settings: AlertSettings) -> None:
        self.settings = settings

    def new_state(self) -> AlertState:
        """Return the state of an instrument that has seen nothing."""
        s = self.settings
        fast, slow = s.sma_cross or (1, 1)
        return AlertState([SMA(fast), SMA(slow), RSI(s.rsi_period or 2), SMA(s.volume_window)])

    @staticmethod
    def snapshot(state: AlertState) -> bytes:
        """Return the state as bytes."""
        return msgspec.msgpack.encode(
            _Snapshot([i.snapshot() for i in state.indicators], state.cross, state.rsi,
                      state.volume_average, state.last_price, state.session, state.high,
                      state.low, state.last_move)
        )  # fmt: skip

    @staticmethod
    def restore(data: bytes) -> AlertState:
        """Return the state from :meth:`snapshot` bytes."""
        snap = msgspec.msgpack.decode(data, type=_Snapshot)
        kinds = (SMA, SMA, RSI, SMA)
        indicators = [kind.restore(b) for kind, b in zip(kinds, snap.indicators, strict=True)]
        return AlertState(indicators, snap.cross, snap.rsi, snap.volume_average, snap.last_price,
                          snap.session, snap.high, snap.low, snap.last_move)  # fmt: skip

    @staticmethod
    def _alert(
        event: Event, rule: str, message: str, value: float | None, threshold: float | None
    ) -> Alert:
        return Alert(event.provider, event.instrument, event.ts_event, event.ts_recv, rule,
                     message, value, threshold)  # fmt: skip

    def on_bar(self, state: AlertState, bar: Bar) -> list[Alert]:
        """Evaluate the candle rules on a closed bar."""
        s = self.settings
        alerts: list[Alert] = []
        fast_sma, slow_sma, rsi, volume_sma = state.indicators
        if s.sma_cross:
            fast, slow = fast_sma.update(bar.close), slow_sma.update(bar.close)
            if fast == fast and slow == slow and fast != slow:
                sign = 1 if fast > slow else -1
                if state.cross and sign != state.cross:
                    rule = "sma_golden_cross" if sign > 0 else "sma_death_cross"
                    side = "above" if sign > 0 else "below"
                    text = f"SMA {s.sma_cross[0]} crossed {side} SMA {s.sma_cross[1]}"
                    alerts.append(self._alert(bar, rule, text, fast, slow))
                state.cross = sign
        if s.rsi_period:
            value = rsi.update(bar.close)
            previous, state.rsi = state.rsi, value
            if previous == previous and value == value:
                if previous <= s.rsi_overbought < value:
                    text = f"RSI {s.rsi_period} rose above {s.rsi_overbought:g}"
                    alerts.append(self._alert(bar, "rsi_overbought", text, value, s.rsi_overbought))
                elif previous >= s.rsi_oversold > value:
                    text = f"RSI {s.rsi_period} fell below {s.rsi_oversold:g}"
                    alerts.append(self._alert(bar, "rsi_oversold", text, value, s.rsi_oversold))
        if s.volume_spike_factor:
            average = state.volume_average
            if average == average and average > 0:
                limit = s.volume_spike_factor * average
                if bar.volume > limit:
                    text = f"bar volume {bar.volume:g} > {s.volume_spike_factor:g}x its average"
                    alerts.append(self._alert(bar, "volume_spike", text, bar.volume, limit))
            state.volume_average = volume_sma.update(bar.volume)
        return alerts

    def price_alert(
        self,
        event: Event,
        rule: str,
        price: float | None,
        threshold: float | None,
        moves: tuple[str, str] | None = None,
    ) -> Alert:
        """Return the alert of a price rule; ``moves`` is (before, after) for ``move_change``."""
        if rule == "price_above_level":
            text = f"price crossed above {threshold:g}"
        elif rule == "price_below_level":
            text = f"price crossed below {threshold:g}"
        elif rule == "move_change" and moves is not None:
            text = f"move changed from {moves[0]} to {moves[1]}"
        else:
            text = "new session high" if rule == "session_high" else "new session low"
        return self._alert(event, rule, text, price, threshold)
