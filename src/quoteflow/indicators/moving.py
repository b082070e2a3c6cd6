"""Moving averages: SMA, EMA, WMA, as TA-Lib computes them."""

from __future__ import annotations

import numpy as np
from numba import njit

from quoteflow.indicators._steps import EMA_SIZE, SMA_SIZE_EXTRA, ema_next, sma_next
from quoteflow.indicators.base import BAR_STEP, Indicator

__all__ = ["EMA", "SMA", "WMA", "ema", "sma", "wma"]


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _sma_kernel(s, period, x, out):
    # State: count, running total, ring of `period` values.
    count, total = int(s[0]), s[1]
    ring = s[SMA_SIZE_EXTRA:]
    pos = count % period
    for i in range(x.size):
        pos, count, total, out[i, 0] = sma_next(ring, pos, count, total, period, x[i])
    s[0], s[1] = count, total


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _ema_kernel(s, period, x, out):
    # State: count, running total (for the SMA seed), current EMA.
    k = 2.0 / (period + 1)
    count, total, value = int(s[0]), s[1], s[2]
    for i in range(x.size):
        count, total, value, out[i, 0] = ema_next(count, total, value, period, k, x[i])
    s[0], s[1], s[2] = count, total, value


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _wma_kernel(s, period, x, out):
    # State: count, period_sub, period_sum, trailing value, ring of `period` values.
    divider = (period * (period + 1)) >> 1
    count, period_sub, period_sum, trailing = int(s[0]), s[1], s[2], s[3]
    ring = s[4:]
    pos = count % period
    for i in range(x.size):
        v = x[i]
        ring[pos] = v
        pos = pos + 1 if pos + 1 < period else 0
        period_sub += v
        count += 1
        if count < period:
            period_sum += v * count
            out[i, 0] = np.nan
            continue
        period_sub -= trailing
        period_sum += v * period
        trailing = ring[pos]
        out[i, 0] = period_sum / divider
        period_sum -= period_sub
    s[0], s[1], s[2], s[3] = count, period_sub, period_sum, trailing


@njit(BAR_STEP, cache=True)
def _sma_bar(s, p, high, low, close, volume, out):
    _sma_kernel(s, int(p[0]), close, out)


@njit(BAR_STEP, cache=True)
def _ema_bar(s, p, high, low, close, volume, out):
    _ema_kernel(s, int(p[0]), close, out)


@njit(BAR_STEP, cache=True)
def _wma_bar(s, p, high, low, close, volume, out):
    _wma_kernel(s, int(p[0]), close, out)


class SMA(Indicator):
    """Simple moving average of the last ``period`` values (TA-Lib ``SMA``).

    >>> SMA(3).update_batch([1.0, 2.0, 3.0, 4.0]).tolist()
    [nan, nan, 2.0, 3.0]
    """

    outputs = ("sma",)
    kernel = _sma_kernel
    bar_step = _sma_bar
    spec_name = "sma"
    spec_defaults = (30,)

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
    bar_step = _ema_bar
    spec_name = "ema"
    spec_defaults = (30,)

    def __init__(self, period: int = 30) -> None:
        if period < 1:
            raise ValueError("period must be >= 1")
        super().__init__(period, state_size=EMA_SIZE, lookback=period - 1)


class WMA(Indicator):
    """Linearly weighted moving average, weights 1..period, newest heaviest (TA-Lib ``WMA``)."""

    outputs = ("wma",)
    kernel = _wma_kernel
    bar_step = _wma_bar
    spec_name = "wma"
    spec_defaults = (30,)

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
