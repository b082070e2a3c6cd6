"""Oscillators: RSI (Wilder), MACD, Stochastic, as TA-Lib computes them."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from quoteflow.indicators._steps import EMA_SIZE, SMA_SIZE_EXTRA, ZERO, ema_step, sma_step
from quoteflow.indicators.base import Indicator

__all__ = ["MACD", "RSI", "Stochastic", "macd", "rsi", "stochastic"]


@njit(cache=True)
def _rsi_kernel(s, period, x, out):
    # State: count, previous value, average gain, average loss.
    for i in range(x.size):
        v = x[i]
        count = int(s[0])
        s[0] = count + 1
        if count == 0:
            s[1] = v
            out[i, 0] = math.nan
            continue
        change = v - s[1]
        s[1] = v
        if count > period:
            s[3] *= period - 1
            s[2] *= period - 1
        if change < 0:
            s[3] -= change
        else:
            s[2] += change
        if count < period:
            out[i, 0] = math.nan
            continue
        s[3] /= period
        s[2] /= period
        total = s[2] + s[3]
        out[i, 0] = 100.0 * (s[2] / total) if not -ZERO < total < ZERO else 0.0


@njit(cache=True)
def _macd_kernel(s, fast, slow, signal, x, out):
    # State: count, then EMA blocks for slow, fast and signal.
    k_slow = 2.0 / (slow + 1)
    k_fast = 2.0 / (fast + 1)
    k_signal = 2.0 / (signal + 1)
    fast_from = slow - fast
    for i in range(x.size):
        v = x[i]
        count = int(s[0])
        s[0] = count + 1
        slow_ema = ema_step(s, 1, slow, k_slow, v)
        fast_ema = math.nan
        if count >= fast_from:
            fast_ema = ema_step(s, 1 + EMA_SIZE, fast, k_fast, v)
        if count < slow - 1:
            out[i, 0] = math.nan
            out[i, 1] = math.nan
            out[i, 2] = math.nan
            continue
        line = fast_ema - slow_ema
        signal_ema = ema_step(s, 1 + 2 * EMA_SIZE, signal, k_signal, line)
        if math.isnan(signal_ema):
            out[i, 0] = math.nan
            out[i, 1] = math.nan
            out[i, 2] = math.nan
        else:
            out[i, 0] = line
            out[i, 1] = signal_ema
            out[i, 2] = line - signal_ema


@njit(cache=True)
def _stochastic_kernel(s, fastk, slowk, slowd, high, low, close, out):
    # State: count, high ring, low ring (fastk each), SMA block for %K, SMA block for %D.
    k_block = 1 + 2 * fastk
    d_block = k_block + SMA_SIZE_EXTRA + slowk
    for i in range(close.size):
        count = int(s[0])
        s[0] = count + 1
        s[1 + count % fastk] = high[i]
        s[1 + fastk + count % fastk] = low[i]
        out[i, 0] = math.nan
        out[i, 1] = math.nan
        if count < fastk - 1:
            continue
        highest = s[1]
        lowest = s[1 + fastk]
        for j in range(1, fastk):
            highest = max(highest, s[1 + j])
            lowest = min(lowest, s[1 + fastk + j])
        diff = (highest - lowest) / 100.0
        raw_k = (close[i] - lowest) / diff if diff != 0.0 else 0.0
        slow_k = sma_step(s, k_block, slowk, raw_k)
        if math.isnan(slow_k):
            continue
        slow_d = sma_step(s, d_block, slowd, slow_k)
        if not math.isnan(slow_d):
            out[i, 0] = slow_k
            out[i, 1] = slow_d


class RSI(Indicator):
    """Relative strength index with Wilder's smoothing (TA-Lib ``RSI``).

    The first output comes after ``period`` changes: the plain average of the
    first gains and losses, then Wilder's smoothing; 0 when there was no move.
    """

    outputs = ("rsi",)
    kernel = _rsi_kernel

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

    def __init__(self, fastk: int = 5, slowk: int = 3, slowd: int = 3) -> None:
        if fastk < 1 or slowk < 1 or slowd < 1:
            raise ValueError("periods must be >= 1")
        super().__init__(
            fastk, slowk, slowd,
            state_size=1 + 2 * fastk + 2 * SMA_SIZE_EXTRA + slowk + slowd,
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
