"""Batch-form indicators next to TA-Lib's C on the same arrays, values per second."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import talib

from benchmarks.bench_normalize import Result, best_rates
from quoteflow import indicators as ind


def _series(n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(5)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, n)))
    return {
        "close": close,
        "high": close * (1 + rng.uniform(0, 0.002, n)),
        "low": close * (1 - rng.uniform(0, 0.002, n)),
        "volume": rng.integers(100, 10_000, n).astype(float),
    }


def _cases(
    d: dict[str, np.ndarray],
) -> dict[str, tuple[Callable[[], object], Callable[[], object]]]:
    c, h, lo, v = d["close"], d["high"], d["low"], d["volume"]
    return {
        "SMA 20": (lambda: ind.sma(c, 20), lambda: talib.SMA(c, 20)),
        "EMA 12": (lambda: ind.ema(c, 12), lambda: talib.EMA(c, 12)),
        "WMA 10": (lambda: ind.wma(c, 10), lambda: talib.WMA(c, 10)),
        "RSI 14": (lambda: ind.rsi(c, 14), lambda: talib.RSI(c, 14)),
        "MACD 12 26 9": (lambda: ind.macd(c), lambda: talib.MACD(c, 12, 26, 9)),
        "BBANDS 20 2": (lambda: ind.bollinger_bands(c), lambda: talib.BBANDS(c, 20, 2, 2, 0)),
        "ATR 14": (lambda: ind.atr(h, lo, c), lambda: talib.ATR(h, lo, c, 14)),
        "STOCH 5 3 3": (lambda: ind.stochastic(h, lo, c), lambda: talib.STOCH(h, lo, c)),
        "ADX 14": (lambda: ind.adx(h, lo, c), lambda: talib.ADX(h, lo, c, 14)),
        "OBV": (lambda: ind.obv(c, v), lambda: talib.OBV(c, v)),
    }


def bench_indicators(rounds: int, n: int) -> list[Result]:
    """Time each batch indicator and its TA-Lib twin on ``n`` values, taking turns."""
    results = []
    for name, (ours, theirs) in _cases(_series(n)).items():
        ours()  # compile before timing

        def run_ours(f: Callable[[], object] = ours) -> int:
            f()
            return n

        def run_theirs(f: Callable[[], object] = theirs) -> int:
            f()
            return n

        mine, reference = best_rates(rounds, run_ours, run_theirs)
        results.append(Result(name, n, mine, reference))
    return results
