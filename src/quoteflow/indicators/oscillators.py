"""Oscillators: RSI (Wilder), MACD, Stochastic, as TA-Lib computes them."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from quoteflow.indicators._steps import EMA_SIZE, ZERO, ema_next, sma_next
from quoteflow.indicators.base import BAR_STEP, Indicator

__all__ = ["MACD", "RSI", "Stochastic", "macd", "rsi", "stochastic"]


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _rsi_kernel(s, period, x, out):
    # State: count, previous value, average gain, average loss.
    # Multiplying by 1 / period instead of dividing shortens the dependency chains.
    # Gains and losses are added without a branch (max with 0, exact): whether a
    # price rose is a coin flip, and a mispredicted branch per value cost 2.6x.
    per = 1.0 / period
    keep = float(period - 1)
    count, previous, gain, loss = int(s[0]), s[1], s[2], s[3]
    for i in range(x.size):
        v = x[i]
        count += 1
        if count == 1:
            previous = v
            out[i, 0] = math.nan
            continue
        change = v - previous
        previous = v
        if count > period + 1:
            loss *= keep
            gain *= keep
        gain += max(change, 0.0)
        loss += max(-change, 0.0)
        if count <= period:
            out[i, 0] = math.nan
            continue
        loss *= per
        gain *= per
        total = gain + loss
        out[i, 0] = 100.0 * (gain / total) if not -ZERO < total < ZERO else 0.0
    s[0], s[1], s[2], s[3] = count, previous, gain, loss


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _macd_kernel(s, fast, slow, signal, x, out):
    # State: count, then (count, total, value) for the slow, fast and signal EMAs.
    k_slow = 2.0 / (slow + 1)
    k_fast = 2.0 / (fast + 1)
    k_signal = 2.0 / (signal + 1)
    fast_from = slow - fast
    count = int(s[0])
    slow_n, slow_total, slow_ema = int(s[1]), s[2], s[3]
    fast_n, fast_total, fast_ema = int(s[4]), s[5], s[6]
    signal_n, signal_total, signal_ema = int(s[7]), s[8], s[9]
    for i in range(x.size):
        v = x[i]
        count += 1
        slow_n, slow_total, slow_ema, slow_out = ema_next(
            slow_n, slow_total, slow_ema, slow, k_slow, v
        )
        if count > fast_from:
            fast_n, fast_total, fast_ema, _ = ema_next(
                fast_n, fast_total, fast_ema, fast, k_fast, v
            )
        out[i, 0] = math.nan
        out[i, 1] = math.nan
        out[i, 2] = math.nan
        if math.isnan(slow_out):
            continue
        line = fast_ema - slow_ema
        signal_n, signal_total, signal_ema, signal_out = ema_next(
            signal_n, signal_total, signal_ema, signal, k_signal, line
        )
        if not math.isnan(signal_out):
            out[i, 0] = line
            out[i, 1] = signal_out
            out[i, 2] = line - signal_out
    s[0] = count
    s[1], s[2], s[3] = slow_n, slow_total, slow_ema
    s[4], s[5], s[6] = fast_n, fast_total, fast_ema
    s[7], s[8], s[9] = signal_n, signal_total, signal_ema


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _stochastic_kernel(s, fastk, slowk, slowd, high, low, close, out):
    # State: count, K and D SMA (count, total), high ring, low ring, K ring, D ring.
    count = int(s[0])
    k_count, k_total, d_count, d_total = int(s[1]), s[2], int(s[3]), s[4]
    highs = s[5 : 5 + fastk]
    lows = s[5 + fastk : 5 + 2 * fastk]
    k_ring = s[5 + 2 * fastk : 5 + 2 * fastk + slowk]
    d_ring = s[5 + 2 * fastk + slowk :]
    pos = count % fastk
    k_pos = k_count % slowk
    d_pos = d_count % slowd
    for i in range(close.size):
        highs[pos] = high[i]
        lows[pos] = low[i]
        pos = pos + 1 if pos + 1 < fastk else 0
        count += 1
        out[i, 0] = math.nan
        out[i, 1] = math.nan
        if count < fastk:
            continue
        highest = highs[0]
        lowest = lows[0]
        for j in range(1, fastk):
            highest = max(highest, highs[j])
            lowest = min(lowest, lows[j])
        diff = (highest - lowest) / 100.0
        raw_k = (close[i] - lowest) / diff if diff != 0.0 else 0.0
        k_pos, k_count, k_total, slow_k = sma_next(k_ring, k_pos, k_count, k_total, slowk, raw_k)
        if math.isnan(slow_k):
            continue
        d_pos, d_count, d_total, slow_d = sma_next(d_ring, d_pos, d_count, d_total, slowd, slow_k)
        if not math.isnan(slow_d):
            out[i, 0] = slow_k
            out[i, 1] = slow_d
    s[0], s[1], s[2], s[3], s[4] = count, k_count, k_total, d_count, d_total


@njit(BAR_STEP, cache=True)
def _rsi_bar(s, p, high, low, close, volume, out):
    _rsi_kernel(s, int(p[0]), close, out)


@njit(BAR_STEP, cache=True)
def _macd_bar(s, p, high, low, close, volume, out):
    _macd_kernel(s, int(p[0]), int(p[1]), int(p[2]), close, out)


@njit(BAR_STEP, cache=True)
def _stochastic_bar(s, p, high, low, close, volume, out):
    _stochastic_kernel(s, int(p[0]), int(p[1]), int(p[2]), high, low, close, out)


class RSI(Indicator):
    """Relative strength index with Wilder's smoothing (TA-Lib ``RSI``).

    The first output comes after ``period`` changes: the plain average of the
    first gains and losses, then Wilder's smoothing; 0 when there was no move.
    """

    outputs = ("rsi",)
    kernel = _rsi_kernel
    bar_step = _rsi_bar
    spec_name = "rsi"
    spec_defaults = (14,)

    def __init__(self, period: int = 14) -> None:
        if period < 2:
            raise ValueError("period must be >= 2")
        super().__init__(period, state_size=4, lookback=period)


class MACD(Indicator):
    """MACD line, signal and histogram (TA-Lib ``MACD``).

    Follows TA-Lib: both EMAs are seeded at index ``slow - 1``, the fast one with
    the SMA of the ``fast`` values ending there (the textbook starts both at the
    first value); the signal is an EMA of the line seeded with an SMA.
    """

    outputs = ("macd", "signal", "histogram")
    kernel = _macd_kernel
    bar_step = _macd_bar
    spec_name = "macd"
    spec_defaults = (12, 26, 9)

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9) -> None:
        if fast < 2 or slow < 2 or signal < 1:
            raise ValueError("need fast >= 2, slow >= 2, signal >= 1")
        if slow < fast:
            fast, slow = slow, fast
        super().__init__(
            fast, slow, signal, state_size=1 + 3 * EMA_SIZE, lookback=slow - 1 + signal - 1
        )


class Stochastic(Indicator):
    """Slow stochastic %K and %D over high, low, close (TA-Lib ``STOCH``, SMA smoothing).

    Raw %K is ``(close - lowest low) / ((highest high - lowest low) / 100)``,
    written as TA-Lib writes it, and 0 when the range is empty.
    """

    inputs = ("high", "low", "close")
    outputs = ("slowk", "slowd")
    kernel = _stochastic_kernel
    bar_step = _stochastic_bar
    spec_name = "stoch"
    spec_defaults = (5, 3, 3)

    def __init__(self, fastk: int = 5, slowk: int = 3, slowd: int = 3) -> None:
        if fastk < 1 or slowk < 1 or slowd < 1:
            raise ValueError("periods must be >= 1")
        super().__init__(
            fastk, slowk, slowd,
            state_size=5 + 2 * fastk + slowk + slowd,
            lookback=fastk - 1 + slowk - 1 + slowd - 1,
        )  # fmt: skip


def rsi(close: np.ndarray, period: int = 14) -> np.ndarray:
    """Return the RSI of every value; NaN for the first ``period``."""
    return RSI(period).update_batch(close)


def macd(
    close: np.ndarray, fast: int = 12, slow: int = 26, signal: int = 9
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (macd, signal, histogram) for every value; NaN for the first ``slow + signal - 2``."""
    out = MACD(fast, slow, signal).update_batch(close)
    return out[:, 0], out[:, 1], out[:, 2]


def stochastic(
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    fastk: int = 5,
    slowk: int = 3,
    slowd: int = 3,
) -> tuple[np.ndarray, np.ndarray]:
    """Return (slow %K, slow %D) for every bar."""
    out = Stochastic(fastk, slowk, slowd).update_batch(high, low, close)
    return out[:, 0], out[:, 1]
