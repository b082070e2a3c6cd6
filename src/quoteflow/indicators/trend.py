"""Trend strength: ADX, as TA-Lib computes it."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from quoteflow.indicators._steps import ZERO, true_range
from quoteflow.indicators.base import BAR_STEP, Indicator

__all__ = ["ADX", "adx"]

_COUNT, _HIGH, _LOW, _CLOSE, _PLUS_DM, _MINUS_DM, _TR, _SUM_DX, _ADX = range(9)


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _directional_index(s):
    """Return DX from the smoothed DMs and TR, or NaN where TA-Lib skips it."""
    if -ZERO < s[_TR] < ZERO:
        return math.nan
    minus_di = 100.0 * (s[_MINUS_DM] / s[_TR])
    plus_di = 100.0 * (s[_PLUS_DM] / s[_TR])
    total = minus_di + plus_di
    if -ZERO < total < ZERO:
        return math.nan
    return 100.0 * (abs(minus_di - plus_di) / total)


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _adx_kernel(s, period, high, low, close, out):
    for i in range(close.size):
        count = int(s[_COUNT])
        s[_COUNT] = count + 1
        out[i, 0] = math.nan
        if count == 0:
            s[_HIGH], s[_LOW], s[_CLOSE] = high[i], low[i], close[i]
            continue
        up = high[i] - s[_HIGH]
        down = s[_LOW] - low[i]
        s[_HIGH], s[_LOW] = high[i], low[i]
        if count >= period:
            s[_MINUS_DM] -= s[_MINUS_DM] / period
            s[_PLUS_DM] -= s[_PLUS_DM] / period
        if down > 0 and up < down:
            s[_MINUS_DM] += down
        elif up > 0 and up > down:
            s[_PLUS_DM] += up
        tr = true_range(high[i], low[i], s[_CLOSE])
        s[_CLOSE] = close[i]
        if count < period:
            s[_TR] += tr
            continue
        s[_TR] = s[_TR] - (s[_TR] / period) + tr
        dx = _directional_index(s)
        if count < 2 * period - 1:
            if not math.isnan(dx):
                s[_SUM_DX] += dx
            continue
        if count == 2 * period - 1:
            if not math.isnan(dx):
                s[_SUM_DX] += dx
            s[_ADX] = s[_SUM_DX] / period
        elif not math.isnan(dx):
            s[_ADX] = ((s[_ADX] * (period - 1)) + dx) / period
        out[i, 0] = s[_ADX]


@njit(BAR_STEP, cache=True)
def _adx_bar(s, p, high, low, close, volume, out):
    _adx_kernel(s, int(p[0]), high, low, close, out)


class ADX(Indicator):
    """Average directional movement index (TA-Lib ``ADX``).

    Follows TA-Lib's start-up: directional movement and true range are summed
    over the first ``period - 1`` changes, then Wilder-smoothed; the first ADX,
    at index ``2 * period - 1``, is the mean of the first ``period`` DX values.
    """

    inputs = ("high", "low", "close")
    outputs = ("adx",)
    kernel = _adx_kernel
    bar_step = _adx_bar
    spec_name = "adx"
    spec_defaults = (14,)

    def __init__(self, period: int = 14) -> None:
        if period < 2:
            raise ValueError("period must be >= 2")
        super().__init__(period, state_size=9, lookback=2 * period - 1)


def adx(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 14) -> np.ndarray:
    """Return the ADX of every bar; NaN for the first ``2 * period - 1``."""
    return ADX(period).update_batch(high, low, close)
