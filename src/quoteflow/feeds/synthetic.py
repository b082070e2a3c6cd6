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
import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import date, timedelta
from itertools import pairwise

import numpy as np
import pandas as pd
import pyarrow as pa

from quoteflow.calendars import calendar_by_name, sessions
from quoteflow.events import Event, Interleaved, Quote, Trade, arrow_schema
from quoteflow.feeds.base import Normalized

__all__ = [
    "PROVIDER",
    "SyntheticFeed",
    "SyntheticMarket",
    "default_instruments",
]

PROVIDER = "SYNTHETIC"
TICK = 0.01
_NS_PER_S = 1_000_000_000
_SECONDS_PER_YEAR = 252 * 6.5 * 3600
_MEAN_LATENCY_NS = 2_000_000
_UNPACED_STEP_NS = 60 * _NS_PER_S
"""Market time per step when no one waits for it (warm-up, no pacing): a step costs
about a millisecond however few records it holds."""


def default_instruments(count: int) -> list[str]:
    """Return ``count`` instrument names that cannot be mistaken for real ones: SYN00, SYN01, ..."""
    return [f"SYN{i:02d}" for i in range(count)]


def _latest_session(calendar: str) -> date:
    cal = calendar_by_name(calendar)
    yesterday = pd.Timestamp(date.today() - timedelta(days=1))
    return cal.date_to_session(yesterday, direction="previous").date()


class SyntheticMarket:
    """The pure, seeded generator behind :class:`SyntheticFeed`.

    ``advance_columns(step_ns)`` moves market time forward and returns that
    interval's quotes and trades as Arrow batches in time order, made column by
    column (the sequential part, each instrument's random walk, is one
    accumulation per instrument); ``advance`` returns the same as records. The
    same arguments always give the same records.
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
        return [event for part in self.advance_columns(step_ns) for event in part.records()]

    def advance_columns(self, step_ns: int) -> list[Interleaved]:
        """Generate the next ``step_ns`` of market time as Arrow batches of quotes and trades.

        One stream per session the step touches (usually one; none when no
        update falls in the step); :meth:`advance` gives the same records.
        """
        parts: list[Interleaved] = []
        remaining = step_ns
        while remaining > 0:
            close = self._sessions[self._session][1]
            span = min(remaining, close - self.clock_ns)
            part = self._generate(self.clock_ns, span)
            if part is not None:
                parts.append(part)
            remaining -= span
            self.clock_ns += span
            if self.clock_ns >= close:
                self._next_session()
        return parts

    def _generate(self, start_ns: int, span_ns: int) -> Interleaved | None:
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
        traded = rng.random(owners.size) < self.trade_probability
        buys = rng.random(owners.size) < 0.5
        trade_sizes = np.maximum(1, np.rint(rng.lognormal(np.log(100), 1.0, owners.size)))
        latency = rng.exponential(_MEAN_LATENCY_NS, (2, owners.size)).astype(np.int64)
        if not owners.size:
            return None
        mids, trade_ids = self._walk(owners, times, shocks, traded, start_ns)
        spread = spreads * TICK
        bids = np.round(np.floor((mids - spread / 2) / TICK) * TICK, 2)
        asks = np.round(bids + spread, 2)
        names = pa.array(self.instruments)
        quotes = _batch(Quote, {
            "instrument": names.take(owners), "ts_event": times,
            "ts_recv": times + latency[0], "bid_price": bids,
            "bid_size": (bid_lots * 100).astype(np.float64), "ask_price": asks,
            "ask_size": (ask_lots * 100).astype(np.float64),
        })  # fmt: skip
        sold = traded.nonzero()[0]
        trade_times = times[sold] + 1
        trades = _batch(Trade, {
            "instrument": names.take(owners[sold]), "ts_event": trade_times,
            "ts_recv": trade_times + latency[1, sold],
            "price": np.where(buys[sold], asks[sold], bids[sold]),
            "size": trade_sizes[sold], "trade_id": pa.array(trade_ids[sold]).cast(pa.string()),
            "aggressor_side": pa.array(np.where(buys[sold], "buy", "sell")),
        })  # fmt: skip
        # a quote, then its trade (one nanosecond later), then by time; ties keep that order
        stream_ts = np.concatenate([times, trade_times])
        stream_kind = np.concatenate([np.zeros(owners.size, np.int8), np.ones(sold.size, np.int8)])
        stream_place = np.concatenate([np.arange(owners.size) * 2, sold * 2 + 1])
        first = np.argsort(stream_place, kind="stable")  # the order they were made in
        stream = first[np.argsort(stream_ts[first], kind="stable")]
        kinds = stream_kind[stream]
        quote_rows = stream[kinds == 0]
        trade_rows = stream[kinds == 1] - owners.size
        return Interleaved((quotes.take(pa.array(quote_rows)), trades.take(pa.array(trade_rows))),
                           kinds)  # fmt: skip

    def _walk(
        self,
        owners: np.ndarray,
        times: np.ndarray,
        shocks: np.ndarray,
        traded: np.ndarray,
        start_ns: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Advance each instrument's mid through its updates (sorted by instrument, then time).

        Returns the mid at each update and the trade id an update's trade gets.
        """
        first = np.r_[True, owners[1:] != owners[:-1]]
        before = np.empty_like(times)
        before[1:] = times[:-1]
        last = self._last_ns[owners[first]]
        before[first] = np.where(last != 0, last, start_ns)
        steps = self._sigma_per_sqrt_s * np.sqrt((times - before) / _NS_PER_S) * shocks
        log_mids = np.empty(owners.size)
        trade_ids = np.zeros(owners.size, dtype=np.int64)
        bounds = [*np.flatnonzero(first).tolist(), owners.size]
        for begin, end in pairwise(bounds):
            i = int(owners[begin])
            walk = np.add.accumulate(np.r_[self._log_mid[i], steps[begin:end]])[1:]
            log_mids[begin:end] = walk
            self._log_mid[i] = walk[-1]
            self._last_ns[i] = times[end - 1]
            trade_ids[begin:end] = self._trade_ids[i] + np.cumsum(traded[begin:end])
            self._trade_ids[i] = int(trade_ids[end - 1])
        return np.exp(log_mids), trade_ids


def _batch(cls: type[Event], columns: dict[str, object]) -> pa.RecordBatch:
    """Return a batch of ``cls`` from some of its columns; provider SYNTHETIC, the rest null."""
    schema = arrow_schema(cls)
    rows = len(next(iter(columns.values())))  # type: ignore[arg-type]
    arrays = []
    for field in schema:
        if field.name == "provider":
            arrays.append(pa.array([PROVIDER] * rows, pa.string()))
        elif field.name in columns:
            arrays.append(pa.array(columns[field.name]).cast(field.type))
        else:
            arrays.append(pa.nulls(rows, field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


class SyntheticFeed:
    """Stream a :class:`SyntheticMarket` paced against the wall clock.

    ``speed`` is market seconds per wall second (``None``: as fast as possible);
    ``duration_s`` is how much market time to generate (``None``: until
    cancelled); each yield covers ``step_ms`` of market time (when no one waits:
    unpaced, or in the warm-up, at least a minute of it). The first
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
        """Yield the records of each step of market time, as Arrow batches of quotes and trades."""
        generated_ns = 0
        limit_ns = None if self.duration_s is None else int(self.duration_s * _NS_PER_S)
        started = self._clock()
        live_rate = self.market.rate_per_s
        while limit_ns is None or generated_ns < limit_ns:
            warming = generated_ns < self.warm_up_ns
            step = self.step_ns
            if warming or self.speed is None:  # nobody waits: steps big enough to pay their way
                step = max(step, _UNPACED_STEP_NS)
            if warming:
                step = min(step, self.warm_up_ns - generated_ns)
            if limit_ns is not None:
                step = min(step, limit_ns - generated_ns)
            rate = live_rate
            if self.warm_up_rate_per_s is not None and warming:
                rate = min(live_rate, self.warm_up_rate_per_s)
            self.market.rate_per_s = rate
            parts = self.market.advance_columns(step)
            generated_ns += step
            if self.speed is not None and generated_ns > self.warm_up_ns:
                due = (generated_ns - self.warm_up_ns) / _NS_PER_S / self.speed
                await self._sleep(max(0.0, due - (self._clock() - started)))
            else:
                started = self._clock()
                await asyncio.sleep(0)
            for part in parts:
                yield Normalized([], interleaved=part)
