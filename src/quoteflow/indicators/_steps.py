"""Compiled single-value steps shared by the kernels.

Each step advances a small block of the state array that starts at ``o`` and
returns the step's output (NaN during warm-up). The arithmetic follows TA-Lib's
C code operation by operation, so results match it to the last bits.
"""

from __future__ import annotations

import math

from numba import njit

SMA_SIZE_EXTRA = 2
"""An SMA block: count, running total, then a ring buffer of ``period`` values."""

EMA_SIZE = 3
"""An EMA block: count, running total (for the SMA seed), current EMA."""

ZERO = 1e-8
"""TA-Lib's TA_IS_ZERO threshold."""


@njit(cache=True, inline="always")
def sma_step(s, o, period, v):
    """TA-Lib SMA: add the new value, output total / period, then drop the oldest."""
    count = int(s[o])
    ring = o + SMA_SIZE_EXTRA
    s[ring + count % period] = v
    s[o] = count + 1
    s[o + 1] += v
    if count < period - 1:
        return math.nan
    out = s[o + 1] / period
    s[o + 1] -= s[ring + (count + 1) % period]
    return out


@njit(cache=True, inline="always")
def ema_step(s, o, period, k, v):
    """TA-Lib EMA: seeded with the SMA of the first ``period`` values, then (v - ema) * k + ema."""
    count = int(s[o])
    s[o] = count + 1
    if count < period:
        s[o + 1] += v
        if count < period - 1:
            return math.nan
        s[o + 2] = s[o + 1] / period
        return s[o + 2]
    s[o + 2] = ((v - s[o + 2]) * k) + s[o + 2]
    return s[o + 2]


@njit(cache=True, inline="always")
def true_range(high, low, previous_close):
    """TA-Lib TRUE_RANGE: the largest of high - low, |previous close - high|, |... - low|."""
    greatest = high - low
    up = abs(previous_close - high)
    if up > greatest:
        greatest = up
    down = abs(previous_close - low)
    if down > greatest:
        greatest = down
    return greatest
