"""Volume indicators: OBV (as TA-Lib) and session VWAP."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from quoteflow.indicators.base import Indicator

__all__ = ["OBV", "SessionVWAP", "obv", "session_vwap"]


@njit(cache=True)
def _obv_kernel(s, close, volume, out):
    # State: count, previous close, OBV.
    for i in range(close.size):
        if s[0] == 0:
            s[1] = close[i]
            s[2] = volume[i]
        elif close[i] > s[1]:
            s[2] += volume[i]
        elif close[i] < s[1]:
            s[2] -= volume[i]
        s[0] += 1
        s[1] = close[i]
        out[i, 0] = s[2]


@njit(cache=True)
def _vwap_kernel(s, price, volume, session, out):
    # State: count, current session, sum of price * volume, sum of volume.
    for i in range(price.size):
        if s[0] == 0 or session[i] != s[1]:
            s[1] = session[i]
            s[2] = 0.0
            s[3] = 0.0
        s[0] += 1
        s[2] += price[i] * volume[i]
        s[3] += volume[i]
        out[i, 0] = s[2] / s[3] if s[3] > 0 else math.nan


class OBV(Indicator):
    """On-balance volume (TA-Lib ``OBV``): starts at the first volume, then +- volume."""

    inputs = ("close", "volume")
    outputs = ("obv",)
    kernel = _obv_kernel

    def __init__(self) -> None:
        super().__init__(state_size=3, lookback=0)


class SessionVWAP(Indicator):
    """Volume-weighted average price since the start of the session.

    ``session`` is any number that changes when a new session starts (for
    example the session date as an integer); the sums restart there. NaN until
    the session has traded volume. Not in TA-Lib: checked against a direct
    cumulative computation.
    """

    inputs = ("price", "volume", "session")
    outputs = ("vwap",)
    kernel = _vwap_kernel

    def __init__(self) -> None:
        super().__init__(state_size=4, lookback=0)


def obv(close: np.ndarray, volume: np.ndarray) -> np.ndarray:
    """Return the OBV of every bar."""
    return OBV().update_batch(close, volume)


def session_vwap(price: np.ndarray, volume: np.ndarray, session: np.ndarray) -> np.ndarray:
    """Return the session VWAP at every trade or bar."""
    return SessionVWAP().update_batch(price, volume, session)
