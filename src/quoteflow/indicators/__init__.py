"""Technical indicators, streaming and batch, matching TA-Lib.

Every indicator is a class with a streaming form (``update`` one value,
``update_batch`` many; O(1) per value; ``snapshot`` / ``restore``) and a
function with the batch form over arrays. Both run the same compiled kernel,
so they give the same numbers; both match TA-Lib to 1e-9 relative after the
warm-up (checked in the tests on real daily prices). Outputs are NaN during
warm-up, where TA-Lib writes nothing.

>>> import numpy as np
>>> closes = np.array([10.0, 11.0, 12.0, 11.0, 13.0])
>>> float(sma(closes, 3)[-1])
12.0
>>> stream = SMA(3)
>>> [stream.update(x) for x in closes][-1]
12.0
"""

from quoteflow.indicators.base import Indicator
from quoteflow.indicators.moving import EMA, SMA, WMA, ema, sma, wma
from quoteflow.indicators.oscillators import MACD, RSI, Stochastic, macd, rsi, stochastic
from quoteflow.indicators.trend import ADX, adx
from quoteflow.indicators.volatility import ATR, BollingerBands, atr, bollinger_bands
from quoteflow.indicators.volume import OBV, SessionVWAP, obv, session_vwap

__all__ = [
    "ADX",
    "ATR",
    "EMA",
    "MACD",
    "OBV",
    "RSI",
    "SMA",
    "WMA",
    "BollingerBands",
    "Indicator",
    "SessionVWAP",
    "Stochastic",
    "adx",
    "atr",
    "bollinger_bands",
    "ema",
    "macd",
    "obv",
    "rsi",
    "session_vwap",
    "sma",
    "stochastic",
    "wma",
]
