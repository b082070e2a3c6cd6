"""Volatility: Bollinger Bands and ATR, as TA-Lib computes them."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from quoteflow.indicators._steps import SMA_SIZE_EXTRA, sma_step, true_range
from quoteflow.indicators.base import Indicator

__all__ = ["ATR", "BollingerBands", "atr", "bollinger_bands"]


@njit(cache=True)
def _bbands_kernel(s, period, deviations_up, deviations_down, x, out):
    # State: SMA block of values, then SMA-shaped block of squares (count, total, ring).
    squares = SMA_SIZE_EXTRA + period
    for i in range(x.size):
        v = x[i]
        middle = sma_step(s, 0, period, v)
        count = int(s[squares])
        s[squares + SMA_SIZE_EXTRA + count % period] = v * v
        s[squares] = count + 1
        s[squares + 1] += v * v
        if math.isnan(middle):
            out[i, 0] = math.nan
            out[i, 1] = math.nan
            out[i, 2] = math.nan
            continue
        mean_square = s[squares + 1] / period
        s[squares + 1] -= s[squares + SMA_SIZE_EXTRA + (count + 1) % period]
        variance = mean_square - middle * middle
        deviation = math.sqrt(variance) if variance >= 1e-8 else 0.0
        out[i, 0] = middle + deviation * deviations_up
        out[i, 1] = middle
        out[i, 2] = middle - deviation * deviations_down


@njit(cache=True)
def _atr_kernel(s, period, high, low, close, out):
    # State: count, previous close, ATR (running total of true ranges until seeded).
    for i in range(close.size):
        count = int(s[0])
        s[0] = count + 1
        if count == 0:
            s[1] = close[i]
            out[i, 0] = math.nan
            continue
        tr = true_range(high[i], low[i], s[1])
        s[1] = close[i]
        if count < period:
            s[2] += tr
            out[i, 0] = math.nan
        elif count == period:
            s[2] = (s[2] + tr) / period
            out[i, 0] = s[2]
        else:
            s[2] = (s[2] * (period - 1) + tr) / period
            out[i, 0] = s[2]


class BollingerBands(Indicator):
    """Bollinger Bands: SMA +- k population standard deviations (TA-Lib ``BBANDS``, SMA).

    The deviation comes from the running mean of squares minus the squared
    mean, as TA-Lib computes it, and is 0 when that variance is below 1e-8.
    """

    outputs = ("upper", "middle", "lower")
    kernel = _bbands_kernel

    def __init__(self, period: int = 20, deviations_up: float = 2.0, deviations_down: float = 2.0):
        if period < 2:
            raise ValueError("period must be >= 2")
        super().__init__(
            period, deviations_up, deviations_down,
            state_size=2 * (SMA_SIZE_EXTRA + period), lookback=period - 1,
        )  # fmt: skip


class ATR(Indicator):
    """Average true range with Wilder's smoothing (TA-Lib ``ATR``).

    The first value, at index ``period``, is the plain average of the first
    ``period`` true ranges (the first bar has no previous close and no range).
    """

    inputs = ("high", "low", "close")
    outputs = ("atr",)
    kernel = _atr_kernel

    def __init__(self, period: int = 14) -> None:
        if period < 1:
            raise ValueError("period must be >= 1")
        super().__init__(period, state_size=3, lookback=period)


def bollinger_bands(
    close: np.ndarray, period: int = 20, deviations_up: float = 2.0, deviations_down: float = 2.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (upper, middle, lower) for every value; NaN for the first ``period - 1``."""
    out = BollingerBands(period, deviations_up, deviations_down).update_batch(close)
    return out[:, 0], out[:, 1], out[:, 2]


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 14) -> np.ndarray:
    """Return the ATR of every bar; NaN for the first ``period``."""
    return ATR(period).update_batch(high, low, close)
