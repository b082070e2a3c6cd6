"""Enrichment throughput: the quoteflow job next to talipp and a plain per-event loop.

Same work on all sides: synthetic quotes for 50 instruments; one-minute candles
of the quote mid; SMA 20, SMA 50 and RSI 14 on closed candles; the move against
the previous close; one enriched record per quote. The baselines take decoded
``Quote`` records and keep their output as dicts; quoteflow takes Arrow batches
of quotes (what its bus carries; the conversion is not timed, as the baselines'
decoding is not) and returns Arrow batches of enriched quotes, plus the candles
as records. Alerts are off on the quoteflow side, since the baselines have none.
"""

from __future__ import annotations

from collections import deque
from datetime import date

from talipp import indicators as talipp_indicators

from benchmarks.bench_normalize import Result, best_rates
from quoteflow.enrich import Enricher, PreviousCloses
from quoteflow.enrich.config import AlertSettings, EnrichSettings
from quoteflow.events import Quote, to_batch
from quoteflow.feeds.synthetic import SyntheticMarket, default_instruments

MINUTE_NS = 60_000_000_000
INDICATORS = "sma:20,sma:50,rsi:14"
BATCH_SIZES = (10_000, 100_000)


def _quotes(count: int, instruments: int) -> tuple[list[Quote], dict[str, float]]:
    market = SyntheticMarket(default_instruments(instruments), start=date(2024, 4, 1),
                             rate_per_s=20, trade_probability=0.0, seed=1)  # fmt: skip
    quotes: list[Quote] = []
    while len(quotes) < count:
        quotes.extend(e for e in market.advance(60 * 1_000_000_000) if isinstance(e, Quote))
    closes = {name: next(iter(days.values())) for name, days in market.previous_closes().items()}
    return quotes[:count], closes


class _PlainSMA:
    def __init__(self, period: int) -> None:
        self.period, self.window, self.total = period, deque(), 0.0

    def add(self, value: float) -> float | None:
        self.window.append(value)
        self.total += value
        if len(self.window) > self.period:
            self.total -= self.window.popleft()
        return self.total / self.period if len(self.window) == self.period else None


class _PlainRSI:
    def __init__(self, period: int) -> None:
        self.period, self.previous, self.count, self.gain, self.loss = period, None, 0, 0.0, 0.0

    def add(self, value: float) -> float | None:
        if self.previous is None:
            self.previous = value
            return None
        change, self.previous = value - self.previous, value
        self.count += 1
        up, down = max(change, 0.0), max(-change, 0.0)
        if self.count <= self.period:
            self.gain += up / self.period
            self.loss += down / self.period
            if self.count < self.period:
                return None
        else:
            self.gain = (self.gain * (self.period - 1) + up) / self.period
            self.loss = (self.loss * (self.period - 1) + down) / self.period
        total = self.gain + self.loss
        return 100.0 * self.gain / total if total else 0.0


def _loop(quotes: list[Quote], closes: dict[str, float], indicators) -> int:
    """Per-event loop: candles of the mid, indicators on closed candles, move, a dict record."""
    state: dict[str, list] = {}
    records = 0
    for q in quotes:
        mid = (q.bid_price + q.ask_price) / 2
        minute = q.ts_event - q.ts_event % MINUTE_NS
        s = state.get(q.instrument)
        if s is None:
            s = state[q.instrument] = [minute, mid, indicators(), {}]
        if minute != s[0]:
            values = s[3]
            for name, indicator in s[2].items():
                value = indicator.add(s[1])
                if value is not None:
                    values[name] = value
            s[0] = minute
        s[1] = mid
        change = (mid / closes[q.instrument] - 1) * 100
        move = "Bullish" if change >= 5 else "Bearish" if change <= -5 else "Neutral"
        record = {"instrument": q.instrument, "ts_event": q.ts_event, "mid": mid,
                  "change_pct": change, "move": move, "indicators": dict(s[3])}  # fmt: skip
        records += record is not None
    return records


def bench_enrich(rounds: int, count: int, instruments: int = 50) -> tuple[list[Result], float]:
    """Return quoteflow per batch size vs talipp and the plain loop, and state bytes/instrument."""
    quotes, closes = _quotes(count, instruments)
    table = to_batch(quotes)
    no_alerts = AlertSettings(sma_cross=None, rsi_period=None, volume_spike_factor=None,
                              session_extremes=False, move_changes=False)  # fmt: skip
    settings = EnrichSettings(price="mid", indicators=INDICATORS, alerts=no_alerts)
    reference = PreviousCloses({name: {date(2024, 3, 28): close} for name, close in closes.items()})
    snapshot_size = [0]

    def quoteflow(size: int):
        batches = [table.slice(start, size) for start in range(0, table.num_rows, size)]

        def run() -> int:
            job = Enricher(settings, reference)
            state = job.initial_state()
            for batch in batches:
                _, state = job.process(batch, state)
            snapshot_size[0] = len(job.snapshot(state))
            return table.num_rows

        return run

    def talipp_indicators_set() -> dict:
        return {
            "sma_20": _Talipp(talipp_indicators.SMA(20)),
            "sma_50": _Talipp(talipp_indicators.SMA(50)),
            "rsi_14": _Talipp(talipp_indicators.RSI(14)),
        }

    def plain_indicators_set() -> dict:
        return {"sma_20": _PlainSMA(20), "sma_50": _PlainSMA(50), "rsi_14": _PlainRSI(14)}

    def talipp() -> int:
        return _loop(quotes, closes, talipp_indicators_set)

    def plain() -> int:
        return _loop(quotes, closes, plain_indicators_set)

    ours = [quoteflow(size) for size in BATCH_SIZES]
    *rates, theirs, loop = best_rates(rounds, *ours, talipp, plain)
    name = f"enrich {count:,} quotes, {instruments} instruments"
    results = []
    for size, rate in zip(BATCH_SIZES, rates, strict=True):
        results += [
            Result(f"{name}, Arrow batches of {size:,}, vs talipp", count, rate, theirs),
            Result(f"{name}, Arrow batches of {size:,}, vs plain loop", count, rate, loop),
        ]
    return results, snapshot_size[0] / instruments


class _Talipp:
    """talipp indicator with the same add() -> latest value (or None) as the plain ones."""

    def __init__(self, indicator) -> None:
        self.indicator = indicator

    def add(self, value: float) -> float | None:
        self.indicator.add(value)
        return self.indicator[-1]
