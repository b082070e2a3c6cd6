"""Every indicator matches TA-Lib to 1e-9 relative after warm-up, on real daily prices."""

import csv

import numpy as np
import pytest
import talib

from quoteflow import indicators as ind
from tests.conftest import FIXTURES

RELATIVE = 1e-9


def load(ticker: str) -> dict[str, np.ndarray]:
    with open(FIXTURES / "stocks" / f"{ticker}.csv") as f:
        rows = list(csv.DictReader(f))
    return {
        k: np.array([float(r[k]) for r in rows]) for k in ("open", "high", "low", "close", "volume")
    }


CASES = {
    "SMA 20": (lambda d: [ind.sma(d["close"], 20)], lambda d: [talib.SMA(d["close"], 20)]),
    "SMA 50": (lambda d: [ind.sma(d["close"], 50)], lambda d: [talib.SMA(d["close"], 50)]),
    "EMA 12": (lambda d: [ind.ema(d["close"], 12)], lambda d: [talib.EMA(d["close"], 12)]),
    "WMA 10": (lambda d: [ind.wma(d["close"], 10)], lambda d: [talib.WMA(d["close"], 10)]),
    "RSI 14": (lambda d: [ind.rsi(d["close"], 14)], lambda d: [talib.RSI(d["close"], 14)]),
    "MACD 12 26 9": (
        lambda d: list(ind.macd(d["close"], 12, 26, 9)),
        lambda d: list(talib.MACD(d["close"], 12, 26, 9)),
    ),
    "BBANDS 20 2": (
        lambda d: list(ind.bollinger_bands(d["close"], 20, 2.0, 2.0)),
        lambda d: list(talib.BBANDS(d["close"], 20, 2.0, 2.0, 0)),
    ),
    "ATR 14": (
        lambda d: [ind.atr(d["high"], d["low"], d["close"], 14)],
        lambda d: [talib.ATR(d["high"], d["low"], d["close"], 14)],
    ),
    "STOCH 5 3 3": (
        lambda d: list(ind.stochastic(d["high"], d["low"], d["close"], 5, 3, 3)),
        lambda d: list(talib.STOCH(d["high"], d["low"], d["close"], 5, 3, 0, 3, 0)),
    ),
    "ADX 14": (
        lambda d: [ind.adx(d["high"], d["low"], d["close"], 14)],
        lambda d: [talib.ADX(d["high"], d["low"], d["close"], 14)],
    ),
    "OBV": (
        lambda d: [ind.obv(d["close"], d["volume"])],
        lambda d: [talib.OBV(d["close"], d["volume"])],
    ),
}


@pytest.mark.parametrize("ticker", ["AAPL", "MSFT"])
@pytest.mark.parametrize("case", CASES)
def test_indicator_matches_talib_after_warm_up(ticker, case):
    data = load(ticker)
    ours, theirs = CASES[case]
    for mine, reference in zip(ours(data), theirs(data), strict=True):
        assert np.array_equal(np.isnan(mine), np.isnan(reference)), "warm-up differs from TA-Lib"
        valid = ~np.isnan(reference)
        assert valid.sum() > 900
        np.testing.assert_allclose(mine[valid], reference[valid], rtol=RELATIVE, atol=0)


def test_session_vwap_matches_a_direct_cumulative_computation():
    data = load("AAPL")
    typical = (data["high"] + data["low"] + data["close"]) / 3
    sessions = np.repeat(np.arange(len(typical) // 5 + 1), 5)[: len(typical)]  # weekly sessions
    ours = ind.session_vwap(typical, data["volume"], sessions)
    expected = np.empty_like(typical)
    for session in np.unique(sessions):
        rows = sessions == session
        pv = np.cumsum(typical[rows] * data["volume"][rows])
        expected[rows] = pv / np.cumsum(data["volume"][rows])
    np.testing.assert_allclose(ours, expected, rtol=RELATIVE, atol=0)
