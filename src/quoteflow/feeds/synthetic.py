"""A seeded synthetic market: intraday quotes and trades for N instruments.

Every record it makes has provider ``SYNTHETIC``: this is not market data.

The model, per instrument: quote updates arrive as a Poisson process at
``rate_per_s`` (market time); the mid follows a driftless geometric random walk
with ``annual_volatility`` scaled to the time between updates; the spread is 1
to 3 ticks of 0.01 around the mid; book sizes are round lots of 100 to 1,900.
Each update is followed by a trade with probability ``trade_probability``: a
buyer lifting the ask or a seller hitting the bid, for a log-normal size around
100 shares. Events happen only inside the regular sessions of an exchange
calendar (XNYS by default; early closes and holidays included); the clock jumps
from one session's close to the next session's open. ``ts_recv`` is
``ts_event`` plus an exponential latency of 2 ms on average.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import date, timedelta

import numpy as np
import pandas as pd

from quoteflow.calendars import calendar_by_name, sessions
from quoteflow.events import Event, Quote, Trade
from quoteflow.feeds.base import Normalized

__all__ = ["PROVIDER", "SyntheticFeed", "SyntheticMarket", "default_instruments"]

PROVIDER = "SYNTHETIC"
TICK = 0.01
_NS_PER_S = 1_000_000_000
_SECONDS_PER_YEAR = 252 * 6.5 * 3600
_MEAN_LATENCY_NS = 2_000_000


def default_instruments(count: int) -> list[str]:
    """Return ``count`` instrument names that cannot be mistaken for real ones: SYN00, SYN01, ..."""
    return [f"SYN{i:02d}" for i in range(count)]


def _latest_session(calendar: str) -> date:
    cal = calendar_by_name(calendar)
    yesterday = pd.Timestamp(date.today() - timedelta(days=1))
    return cal.date_to_session(yesterday, direction="previous").date()


class SyntheticMarket:
    """The pure, seeded generator behind :class:`SyntheticFeed`.

    ``advance(step_ns)`` moves market time forward and returns the records of
    that interval in time order; the same arguments always give the same records.
    """

    def __init__(
        self,
        instruments: Sequence[str],
        *,
        seed: int = 7,
        rate_per_s: float = 5.0,
        trade_probability: float = 0.2,
        annual_volatility: float = 0.3,
        start: date | None = None,
        calendar: str = "XNYS",
    ) -> None:
        if not instruments:
            raise ValueError("instruments must not be empty")
        if rate_per_s <= 0 or not 0 <= trade_probability <= 1 or annual_volatility < 0:
            raise ValueError("need rate_per_s > 0, 0 <= trade_probability <= 1, volatility >= 0")
        self.instruments = list(instruments)
        self.rate_per_s = rate_per_s
        self.trade_probability = trade_probability
        self.calendar = calendar
        self._sigma_per_sqrt_s = annual_volatility / np.sqrt(_SECONDS_PER_YEAR)
        self._rng = np.random.default_rng(seed)
        self._log_mid = np.log(self._rng.uniform(20, 500, len(instruments)))
        self._trade_ids = [0] * len(instruments)
        self._last_ns = np.zeros(len(instruments), dtype=np.int64)
        first = start or _latest_session(calendar)
        self._sessions = sessions(calendar, first, 30)
        self._session = 0
        self.clock_ns = self._sessions[0][0]
        self._opening_mids = np.exp(self._log_mid)

    def previous_closes(self) -> dict[str, dict[date, float]]:
        """Return a synthetic close for the session before the first one: the opening mid.

        Reference data for the enrichment demo; as synthetic as the prices.
        """
        cal = calendar_by_name(self.calendar)
        first = pd.Timestamp(self._sessions[0][0], unit="ns", tz="UTC").tz_convert(cal.tz)
        previous = cal.previous_session(pd.Timestamp(first.date())).date()
        return {
            name: {previous: round(float(mid), 2)}
            for name, mid in zip(self.instruments, self._opening_mids, strict=True)
        }

    def _next_session(self) -> None:
        self._session += 1
        if self._session == len(self._sessions):
            last_open = pd.Timestamp(self._sessions[-1][0], unit="ns").date()
            self._sessions = sessions(self.calendar, last_open + timedelta(days=1), 30)
            self._session = 0
        self.clock_ns = self._sessions[self._session][0]

    def advance(self, step_ns: int) -> list[Event]:
        """Generate the records of the next ``step_ns`` of market time."""
        events: list[Event] = []
        remaining = step_ns
        while remaining > 0:
            close = self._sessions[self._session][1]
            span = min(remaining, close - self.clock_ns)
            events.extend(self._generate(self.clock_ns, span))
            remaining -= span
            self.clock_ns += span
            if self.clock_ns >= close:
                self._next_session()
        return events

    def _generate(self, start_ns: int, span_ns: int) -> list[Event]:
        rng = self._rng
        counts = rng.poisson(self.rate_per_s * span_ns / _NS_PER_S, len(self.instruments))
        owners = np.repeat(np.arange(len(self.instruments)), counts)
        times = start_ns + rng.integers(0, span_ns, owners.size, dtype=np.int64)
        order = np.lexsort((times, owners))
        owners, times = owners[order], times[order]
        shocks = rng.standard_normal(owners.size)
        spreads = rng.integers(1, 4, owners.size)
        bid_lots = rng.integers(1, 20, owners.size)
        ask_lots = rng.integers(1, 20, owners.size)
        trades = rng.random(owners.size) < self.trade_probability
        buys = rng.random(owners.size) < 0.5
        trade_sizes = np.maximum(1, np.rint(rng.lognormal(np.log(100), 1.0, owners.size)))
        latency = rng.exponential(_MEAN_LATENCY_NS, (2, owners.size)).astype(np.int64)
        events: list[tuple[int, Event]] = []
        for k in range(owners.size):
            i = int(owners[k])
            ts = int(times[k])
            since_ns = ts - (self._last_ns[i] or start_ns)
            self._last_ns[i] = ts
            self._log_mid[i] += self._sigma_per_sqrt_s * np.sqrt(since_ns / _NS_PER_S) * shocks[k]
            mid = float(np.exp(self._log_mid[i]))
            spread = int(spreads[k]) * TICK
            bid = round(math.floor((mid - spread / 2) / TICK) * TICK, 2)
            ask = round(bid + spread, 2)
            name = self.instruments[i]
            events.append(
                (ts, Quote(
                    PROVIDER, name, ts, ts + int(latency[0, k]),
                    bid, float(bid_lots[k] * 100), ask, float(ask_lots[k] * 100),
                ))
            )  # fmt: skip
            if trades[k]:
                self._trade_ids[i] += 1
                trade_ts = ts + 1
                events.append(
                    (trade_ts, Trade(
                        PROVIDER, name, trade_ts, trade_ts + int(latency[1, k]),
                        ask if buys[k] else bid, float(trade_sizes[k]),
                        str(self._trade_ids[i]), aggressor_side="buy" if buys[k] else "sell",
                    ))
                )  # fmt: skip
        events.sort(key=lambda pair: pair[0])
        return [event for _, event in events]


class SyntheticFeed:
    """Stream a :class:`SyntheticMarket` paced against the wall clock.

    ``speed`` is market seconds per wall second (``None``: as fast as possible);
    ``duration_s`` is how much market time to generate (``None``: until
    cancelled); each yield covers ``step_ms`` of market time. The first
    ``warm_up_s`` of market time go out as fast as possible, pacing starts after
    them: history that warms up indicators. With ``warm_up_rate_per_s`` that
    history has at most that many quote updates per instrument and second (bars
    need no more), so a fast market does not take minutes to warm up.
    ``clock`` and ``sleep`` are injectable for tests.
    """

    name = "synthetic"

    def __init__(
        self,
        market: SyntheticMarket,
        *,
        speed: float | None = 1.0,
        duration_s: float | None = None,
        step_ms: int = 100,
        warm_up_s: float = 0.0,
        warm_up_rate_per_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = asyncio.sleep,
    ) -> None:
        if speed is not None and speed <= 0:
            raise ValueError("speed must be > 0, or None for as fast as possible")
        self.market = market
        self.speed = speed
        self.duration_s = duration_s
        self.warm_up_ns = int(warm_up_s * _NS_PER_S)
        self.warm_up_rate_per_s = warm_up_rate_per_s
        self.step_ns = step_ms * 1_000_000
        self._clock = clock
        self._sleep = sleep

    async def stream(self) -> AsyncIterator[Normalized]:
        """Yield one batch of records per step of market time."""
        generated_ns = 0
        limit_ns = None if self.duration_s is None else int(self.duration_s * _NS_PER_S)
        started = self._clock()
        live_rate = self.market.rate_per_s
        while limit_ns is None or generated_ns < limit_ns:
            step = self.step_ns if limit_ns is None else min(self.step_ns, limit_ns - generated_ns)
            rate = live_rate
            if self.warm_up_rate_per_s is not None and generated_ns < self.warm_up_ns:
                rate = min(live_rate, self.warm_up_rate_per_s)
            self.market.rate_per_s = rate
            events = self.market.advance(step)
            generated_ns += step
            if self.speed is not None and generated_ns > self.warm_up_ns:
                due = (generated_ns - self.warm_up_ns) / _NS_PER_S / self.speed
                await self._sleep(max(0.0, due - (self._clock() - started)))
            else:
                started = self._clock()
                await asyncio.sleep(0)
            if events:
                yield Normalized(events)
