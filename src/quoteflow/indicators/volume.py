"""Volume indicators: OBV (as TA-Lib) and session VWAP."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from quoteflow.indicators.base import BAR_STEP, Indicator

__all__ = ["OBV", "SessionVWAP", "obv", "session_vwap"]


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _obv_kernel(s, close, volume, out):
    # State: count, previous close, OBV.
    count, previous, value = int(s[0]), s[1], s[2]
    for i in range(close.size):
        c = close[i]
        if count == 0:
            value = volume[i]
        elif c > previous:
            value += volume[i]
        elif c < previous:
            value -= volume[i]
        count += 1
        previous = c
        out[i, 0] = value
    s[0], s[1], s[2] = count, previous, value


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _vwap_kernel(s, price, volume, session, out):
    # State: count, current session, sum of price * volume, sum of volume.
    count, current, pv, v = int(s[0]), s[1], s[2], s[3]
    for i in range(price.size):
        if count == 0 or session[i] != current:
            current, pv, v = session[i], 0.0, 0.0
        count += 1
        pv += price[i] * volume[i]
        v += volume[i]
        out[i, 0] = pv / v if v > 0 else math.nan
    s[0], s[1], s[2], s[3] = count, current, pv, v


@njit(BAR_STEP, cache=True)
def _obv_bar(s, p, high, low, close, volume, out):
    _obv_kernel(s, close, volume, out)


class OBV(Indicator):
    """On-balance volume (TA-Lib ``OBV``): starts at the first volume, then +- volume."""

    inputs = ("close", "volume")
    outputs = ("obv",)
    kernel = _obv_kernel
    bar_step = _obv_bar
    spec_name = "obv"
    spec_defaults = ()

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
