"""Volatility: Bollinger Bands and ATR, as TA-Lib computes them."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from quoteflow.indicators._steps import ZERO, sma_next, true_range
from quoteflow.indicators.base import BAR_STEP, Indicator

__all__ = ["ATR", "BollingerBands", "atr", "bollinger_bands"]


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _bbands_kernel(s, period, deviations_up, deviations_down, x, out):
    # State: count, total, total of squares, ring of values, ring of squares.
    count, total, total2 = int(s[0]), s[1], s[2]
    ring = s[3 : 3 + period]
    ring2 = s[3 + period :]
    pos = count % period
    for i in range(x.size):
        v = x[i]
        # Both rings advance in step: the second call returns the same pos and count.
        _, _, total, middle = sma_next(ring, pos, count, total, period, v)
        pos, count, total2, mean_square = sma_next(ring2, pos, count, total2, period, v * v)
        if math.isnan(middle):
            out[i, 0] = math.nan
            out[i, 1] = math.nan
            out[i, 2] = math.nan
            continue
        variance = mean_square - middle * middle
        deviation = math.sqrt(variance) if variance >= ZERO else 0.0
        out[i, 0] = middle + deviation * deviations_up
        out[i, 1] = middle
        out[i, 2] = middle - deviation * deviations_down
    s[0], s[1], s[2] = count, total, total2


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _atr_kernel(s, period, high, low, close, out):
    # State: count, previous close, ATR (the running total of true ranges until seeded).
    # Multiplying by 1 / period instead of dividing shortens the dependency chain 3x;
    # results stay within 1e-15 of TA-Lib.
    per = 1.0 / period
    keep = float(period - 1)
    count, previous_close, value = int(s[0]), s[1], s[2]
    for i in range(close.size):
        count += 1
        if count == 1:
            previous_close = close[i]
            out[i, 0] = math.nan
            continue
        tr = true_range(high[i], low[i], previous_close)
        previous_close = close[i]
        if count <= period:
            value += tr
            out[i, 0] = math.nan
        elif count == period + 1:
            value = (value + tr) / period
            out[i, 0] = value
        else:
            value = (value * keep + tr) * per
            out[i, 0] = value
    s[0], s[1], s[2] = count, previous_close, value


@njit(BAR_STEP, cache=True)
def _bbands_bar(s, p, high, low, close, volume, out):
    _bbands_kernel(s, int(p[0]), p[1], p[2], close, out)


@njit(BAR_STEP, cache=True)
def _atr_bar(s, p, high, low, close, volume, out):
    _atr_kernel(s, int(p[0]), high, low, close, out)


class BollingerBands(Indicator):
    """Bollinger Bands: SMA +- k population standard deviations (TA-Lib ``BBANDS``, SMA).

    The deviation comes from the running mean of squares minus the squared
    mean, as TA-Lib computes it, and is 0 when that variance is below 1e-8.
    """

    outputs = ("upper", "middle", "lower")
    kernel = _bbands_kernel
    bar_step = _bbands_bar
    spec_name = "bbands"
    spec_defaults = (20, 2)

    @classmethod
    def from_spec(cls, *params: float) -> BollingerBands:
        """Return the bands of a spec ``bbands:<period>:<deviations>`` (both sides alike)."""
        period, deviations = params
        return cls(int(period), deviations, deviations)

    def __init__(self, period: int = 20, deviations_up: float = 2.0, deviations_down: float = 2.0):
        if period < 2:
            raise ValueError("period must be >= 2")
        super().__init__(
            period, deviations_up, deviations_down,
            state_size=3 + 2 * period, lookback=period - 1,
        )  # fmt: skip


class ATR(Indicator):
    """Average true range with Wilder's smoothing (TA-Lib ``ATR``).

    The first value, at index ``period``, is the plain average of the first
    ``period`` true ranges (the first bar has no previous close and no range).
    """

    inputs = ("high", "low", "close")
    outputs = ("atr",)
    kernel = _atr_kernel
    bar_step = _atr_bar
    spec_name = "atr"
    spec_defaults = (14,)

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
