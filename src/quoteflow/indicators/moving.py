"""Moving averages: SMA, EMA, WMA, as TA-Lib computes them."""

from __future__ import annotations

import numpy as np
from numba import njit

from quoteflow.indicators._steps import EMA_SIZE, SMA_SIZE_EXTRA, ema_step, sma_step
from quoteflow.indicators.base import Indicator

__all__ = ["EMA", "SMA", "WMA", "ema", "sma", "wma"]


@njit(cache=True)
def _sma_kernel(s, period, x, out):
    for i in range(x.size):
        out[i, 0] = sma_step(s, 0, period, x[i])


@njit(cache=True)
def _ema_kernel(s, period, x, out):
    k = 2.0 / (period + 1)
    for i in range(x.size):
        out[i, 0] = ema_step(s, 0, period, k, x[i])


@njit(cache=True)
def _wma_kernel(s, period, x, out):
    # State: count, period_sub, period_sum, trailing value, ring of `period` values.
    divider = (period * (period + 1)) >> 1
    for i in range(x.size):
        v = x[i]
        count = int(s[0])
        s[4 + count % period] = v
        s[0] = count + 1
        s[1] += v
        if count < period - 1:
            s[2] += v * (count + 1)
            out[i, 0] = np.nan
            continue
        s[1] -= s[3]
        s[2] += v * period
        s[3] = s[4 + (count + 1) % period]
        out[i, 0] = s[2] / divider
        s[2] -= s[1]


class SMA(Indicator):
    """Simple moving average of the last ``period`` values (TA-Lib ``SMA``).

    >>> SMA(3).update_batch([1.0, 2.0, 3.0, 4.0]).tolist()
    [nan, nan, 2.0, 3.0]
    """

    outputs = ("sma",)
    kernel = _sma_kernel

    def __init__(self, period: int = 30) -> None:
        if period < 1:
            raise ValueError("period must be >= 1")
        super().__init__(period, state_size=SMA_SIZE_EXTRA + period, lookback=period - 1)


class EMA(Indicator):
    """Exponential moving average, k = 2 / (period + 1) (TA-Lib ``EMA``).

    Follows TA-Lib, not the textbook start at the first value: the first output
    is the SMA of the first ``period`` values.
    """

    outputs = ("ema",)
    kernel = _ema_kernel

    def __init__(self, period: int = 30) -> None:
        if period < 1:
            raise ValueError("period must be >= 1")
        super().__init__(period, state_size=EMA_SIZE, lookback=period - 1)


class WMA(Indicator):
    """Linearly weighted moving average, weights 1..period, newest heaviest (TA-Lib ``WMA``)."""

    outputs = ("wma",)
    kernel = _wma_kernel

    def __init__(self, period: int = 30) -> None:
        if period < 1:
            raise ValueError("period must be >= 1")
        super().__init__(period, state_size=4 + period, lookback=period - 1)


def sma(close: np.ndarray, period: int = 30) -> np.ndarray:
    """Return the SMA of every value; NaN for the first ``period - 1``."""
    return SMA(period).update_batch(close)


def ema(close: np.ndarray, period: int = 30) -> np.ndarray:
    """Return the EMA of every value; NaN for the first ``period - 1``."""
    return EMA(period).update_batch(close)


def wma(close: np.ndarray, period: int = 30) -> np.ndarray:
    """Return the WMA of every value; NaN for the first ``period - 1``."""
    return WMA(period).update_batch(close)
