"""Compiled single-value steps shared by the kernels.

The steps take and return plain numbers (numba keeps them in registers); the
kernels load their state array into locals once, loop, and store it back once,
rather than touching the state array for every value. The
arithmetic follows TA-Lib's C code operation by operation, so results match it
to the last bits.
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


@njit(cache=True, inline="always", error_model="numpy", fastmath={"contract"})
def sma_next(ring, pos, count, total, period, v):
    """TA-Lib SMA: add the new value, output total / period, then drop the oldest.

    Return (pos, count, total, output); ``ring`` is updated in place.
    """
    ring[pos] = v
    pos = pos + 1 if pos + 1 < period else 0
    total += v
    count += 1
    if count < period:
        return pos, count, total, math.nan
    out = total / period
    return pos, count, total - ring[pos], out


@njit(cache=True, inline="always", error_model="numpy", fastmath={"contract"})
def ema_next(count, total, value, period, k, v):
    """TA-Lib EMA: seeded with the SMA of the first ``period`` values, then (v - ema) * k + ema.

    Return (count, total, value, output).
    """
    count += 1
    if count < period:
        return count, total + v, value, math.nan
    if count == period:
        total += v
        value = total / period
        return count, total, value, value
    value = ((v - value) * k) + value
    return count, total, value, value


@njit(cache=True, inline="always", error_model="numpy", fastmath={"contract"})
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
