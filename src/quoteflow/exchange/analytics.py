"""Trade analytics: continuous queries over the exchange's trades, in hopping windows.

For every symbol and every window (``window`` long, a new one every
``every``; 10 minutes every 5 by default, aligned to the epoch, UTC) it
computes the simple moving average of the trade prices (the mean price of the
window's trades), the open, the close, and the profit of holding through the
window: ``close - open``, absolute and in percent of the open. When a window
has closed for every symbol, the symbol with the highest profit in percent
(comparable across prices) is the window's leader.

Time is event time. A symbol's window closes when one of its trades is
``allowed_lateness`` past the window's end, or when :meth:`TradeAnalytics.advance`
(a timer, with the wall clock) passes that point: quiet symbols close too, and
only then is a window's leader known. A trade for a window already closed is
counted in ``late`` and left out.
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from quoteflow.bus.base import Bus, Message, records_of, send_in_order
from quoteflow.events import Trade
from quoteflow.events.exchange import PROVIDER, WindowLeader, WindowStats
from quoteflow.exchange.matcher import TRADES_TOPIC
from quoteflow.indicators.candles import parse_period_ns
from quoteflow.sinks.base import Sink

__all__ = ["LEADERS_TOPIC", "STATS_TOPIC", "AnalyticsSink", "TradeAnalytics"]

STATS_TOPIC = "exchange.window_stats"
LEADERS_TOPIC = "exchange.window_leaders"


class _Window(msgspec.Struct, gc=False):
    end: int
    open_ts: int
    open: float
    close_ts: int
    close: float
    total: float = 0.0
    count: int = 0
    volume: float = 0.0
    ts_recv: int = 0

    def add(self, trade: Trade) -> None:
        ts, price = trade.ts_event, trade.price
        if ts < self.open_ts:
            self.open_ts, self.open = ts, price
        if ts >= self.close_ts:
            self.close_ts, self.close = ts, price
        self.total += price
        self.count += 1
        self.volume += trade.size
        self.ts_recv = max(self.ts_recv, trade.ts_recv)

    def stats(self, instrument: str, start: int) -> WindowStats:
        """Return the window's figures so far."""
        profit = self.close - self.open
        return WindowStats(PROVIDER, instrument, start, self.ts_recv, self.end, self.count,
                           self.volume, self.open, self.close, self.total / self.count, profit,
                           100 * profit / self.open)  # fmt: skip


class TradeAnalytics:
    """Window statistics per symbol and each window's leader, from a stream of trades.

    ``keep`` is how many closed windows per symbol (and leaders) stay in
    :attr:`latest` and :attr:`leaders` for ``quoteflow exchange stats``.
    """

    def __init__(self, window: str = "10m", every: str = "5m", *,
                 allowed_lateness_ms: int = 1_000, keep: int = 12) -> None:  # fmt: skip
        self.size_ns = parse_period_ns(window)
        self.advance_ns = parse_period_ns(every)
        if self.advance_ns > self.size_ns or self.size_ns % self.advance_ns:
            raise ValueError(f"every ({every}) must divide the window ({window})")
        if allowed_lateness_ms < 0:
            raise ValueError("allowed_lateness_ms must be >= 0")
        self.lateness_ns = allowed_lateness_ms * 1_000_000
        self.late = 0
        self.latest: dict[str, deque[WindowStats]] = {}
        self.leaders: deque[WindowLeader] = deque(maxlen=keep)
        self._keep = keep
        self._open: dict[str, dict[int, _Window]] = {}
        self._watermarks: dict[str, int] = {}  # windows ending at or before it are closed
        self._closed: dict[int, list[WindowStats]] = {}  # by window start, until the leader

    def process(self, trades: Iterable[Trade]) -> list[tuple[str, str, Any]]:
        """Add trades; return ``(topic, key, record)`` of the windows they closed."""
        out: list[tuple[str, str, Any]] = []
        for trade in trades:
            symbol, ts = trade.instrument, trade.ts_event
            windows = self._open.setdefault(symbol, {})
            watermark = self._watermarks.get(symbol, ts - self.lateness_ns)
            counted = False
            last = ts - ts % self.advance_ns
            for start in range(last, ts - self.size_ns, -self.advance_ns):
                if start + self.size_ns <= watermark:
                    continue  # closed already; the later windows may still be open
                counted = True
                window = windows.get(start)
                if window is None:
                    window = windows[start] = _Window(start + self.size_ns, ts, trade.price, ts,
                                                      trade.price)  # fmt: skip
                window.add(trade)
            if not counted:
                self.late += 1
            out += self._close(symbol, max(watermark, ts - self.lateness_ns))
        return out

    def advance(self, now_ns: int) -> list[tuple[str, str, Any]]:
        """Close every window ``allowed_lateness`` past its end by ``now_ns``; emit leaders."""
        out: list[tuple[str, str, Any]] = []
        watermark = now_ns - self.lateness_ns
        for symbol in list(self._open):
            out += self._close(symbol, max(watermark, self._watermarks[symbol]))
        for start in sorted(s for s in self._closed if s + self.size_ns <= watermark):
            stats = self._closed.pop(start)
            best = max(stats, key=lambda s: (s.profit_pct, s.instrument))
            leader = WindowLeader(PROVIDER, best.instrument, start, max(s.ts_recv for s in stats),
                                  start + self.size_ns, best.profit, best.profit_pct,
                                  len(stats))  # fmt: skip
            self.leaders.append(leader)
            out.append((LEADERS_TOPIC, "", leader))
        return out

    def open_windows(self) -> dict[str, WindowStats]:
        """Return each symbol's oldest window still open: its figures so far.

        It is the next to close (``allowed_lateness`` after its ``window_end``).
        """
        current: dict[str, WindowStats] = {}
        for symbol, windows in self._open.items():
            if windows:
                start = min(windows)
                current[symbol] = windows[start].stats(symbol, start)
        return current

    def _close(self, symbol: str, watermark: int) -> list[tuple[str, str, Any]]:
        self._watermarks[symbol] = watermark
        windows = self._open[symbol]
        out: list[tuple[str, str, Any]] = []
        for start in sorted(s for s, w in windows.items() if w.end <= watermark):
            stats = windows.pop(start).stats(symbol, start)
            self.latest.setdefault(symbol, deque(maxlen=self._keep)).append(stats)
            self._closed.setdefault(start, []).append(stats)
            out.append((STATS_TOPIC, symbol, stats))
        return out


class AnalyticsSink(Sink):
    """The trade analytics as a pipeline sink: the exchange's trades in, closed windows out.

    Each process reads every partition (a sink group of its own): a window's
    leader needs every symbol's trades. Windows also close on the clock, checked
    after each poll at most every ``every_s``.
    """

    topics = (TRADES_TOPIC,)

    def __init__(self, bus: Bus, analytics: TradeAnalytics, clock: Callable[[], int],
                 every_s: float = 0.5) -> None:  # fmt: skip
        self.name = f"exchange-analytics-{secrets.token_hex(4)}"
        self.bus = bus
        self.analytics = analytics
        self.clock = clock
        self.every_ns = int(every_s * 1e9)
        self._advanced = 0

    async def write(self, messages: list[Message]) -> None:
        """Add the exchange's trades; publish the windows they close."""
        trades = [r for r in records_of(messages)
                  if isinstance(r, Trade) and r.provider == PROVIDER]  # fmt: skip
        await send_in_order(self.bus, self.analytics.process(trades))

    async def tick(self) -> None:
        """Close the windows the clock has passed; publish them and the leaders."""
        now = self.clock()
        if now - self._advanced >= self.every_ns:
            self._advanced = now
            await send_in_order(self.bus, self.analytics.advance(now))

    async def close(self) -> None:
        """Nothing is buffered (open windows are state, not output)."""
