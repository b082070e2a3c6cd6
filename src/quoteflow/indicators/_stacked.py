"""The indicators of many instruments, advanced by their closed bars in one compiled call.

Streaming indicators advance one bar at a time through Python, about a
microsecond of call overhead per indicator and bar. The columnar enrichment
path closes many bars per batch; :class:`StackedIndicators` keeps the states of
one indicator set for many instruments as the rows of one array and runs the
same kernels over all of a batch's bars in one call, so the numbers are those
of :class:`~quoteflow.indicators.base.Indicator` to the last bit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np

from quoteflow.indicators.base import Indicator
from quoteflow.indicators.moving import _ema_kernel, _sma_kernel, _wma_kernel
from quoteflow.indicators.oscillators import _macd_kernel, _rsi_kernel, _stochastic_kernel
from quoteflow.indicators.trend import _adx_kernel
from quoteflow.indicators.volatility import _atr_kernel, _bbands_kernel
from quoteflow.indicators.volume import _obv_kernel

__all__ = ["BAR_INPUTS", "StackedIndicators"]

BAR_INPUTS = ("high", "low", "close", "volume")
"""The bar fields :meth:`StackedIndicators.advance` takes, in this order."""

_SMA, _EMA, _WMA, _RSI, _MACD, _STOCHASTIC, _ADX, _ATR, _BBANDS, _OBV = range(10)
_KINDS = {
    _sma_kernel: _SMA, _ema_kernel: _EMA, _wma_kernel: _WMA, _rsi_kernel: _RSI,
    _macd_kernel: _MACD, _stochastic_kernel: _STOCHASTIC, _adx_kernel: _ADX,
    _atr_kernel: _ATR, _bbands_kernel: _BBANDS, _obv_kernel: _OBV,
}  # fmt: skip
_MOST_PARAMS = 3
_MOST_OUTPUTS = 3


@numba.njit(cache=True)
def _advance(kinds, params, state_offsets, output_offsets, output_columns,
             states, values, codes, bars, after):  # fmt: skip
    """Advance instrument ``codes[b]``'s indicators by bar ``b``, for every bar in order.

    ``bars`` holds the fields of :data:`BAR_INPUTS`, a row per field. Outputs that are not
    NaN replace the instrument's ``values``; ``after[b]`` gets its values after bar b.
    """
    out = np.empty((1, _MOST_OUTPUTS))
    for b in range(codes.shape[0]):
        c = codes[b]
        high, low = bars[0, b : b + 1], bars[1, b : b + 1]
        close, volume = bars[2, b : b + 1], bars[3, b : b + 1]
        for k in range(kinds.shape[0]):
            s = states[c, state_offsets[k] : state_offsets[k + 1]]
            kind, p = kinds[k], params[k]
            if kind == _SMA:
                _sma_kernel(s, int(p[0]), close, out)
            elif kind == _EMA:
                _ema_kernel(s, int(p[0]), close, out)
            elif kind == _WMA:
                _wma_kernel(s, int(p[0]), close, out)
            elif kind == _RSI:
                _rsi_kernel(s, int(p[0]), close, out)
            elif kind == _MACD:
                _macd_kernel(s, int(p[0]), int(p[1]), int(p[2]), close, out)
            elif kind == _STOCHASTIC:
                _stochastic_kernel(s, int(p[0]), int(p[1]), int(p[2]), high, low, close, out)
            elif kind == _ADX:
                _adx_kernel(s, int(p[0]), high, low, close, out)
            elif kind == _ATR:
                _atr_kernel(s, int(p[0]), high, low, close, out)
            elif kind == _BBANDS:
                _bbands_kernel(s, int(p[0]), p[1], p[2], close, out)
            else:
                _obv_kernel(s, close, volume, out)
            first = output_offsets[k]
            for j in range(first, output_offsets[k + 1]):
                value = out[0, j - first]
                if value == value:
                    values[c, output_columns[j]] = value
        after[b] = values[c]


class StackedIndicators:
    """One indicator set for many instruments: each instrument's states are a row of one array.

    ``template`` is one instrument's indicators; their outputs go to the named
    ``columns`` (``names[k]`` for indicator ``k``; a later indicator's output
    wins when two share a column, as in the streaming form).
    """

    def __init__(
        self, template: Sequence[Indicator], names: Sequence[Sequence[str]], columns: list[str]
    ) -> None:
        """Lay out the states and outputs of ``template`` (ValueError for unknown kernels)."""
        unknown = [type(i).__name__ for i in template if type(i).kernel not in _KINDS]
        if unknown:
            raise ValueError(f"no stacked form for {', '.join(unknown)}")
        self.kinds = np.array([_KINDS[type(i).kernel] for i in template], dtype=np.int64)
        self.params = np.zeros((len(template), _MOST_PARAMS))
        for k, indicator in enumerate(template):
            self.params[k, : len(indicator.params)] = indicator.params
        sizes = [len(i.state) for i in template]
        self.state_offsets = np.zeros(len(template) + 1, dtype=np.int64)
        np.cumsum(sizes, out=self.state_offsets[1:])
        self.output_offsets = np.zeros(len(template) + 1, dtype=np.int64)
        np.cumsum([len(n) for n in names], out=self.output_offsets[1:])
        self.output_columns = np.array(
            [columns.index(name) for group in names for name in group], dtype=np.int64
        )

    def warm_up(self) -> None:
        """Load the compiled code now (about 0.2 s), not at the first bar of a live feed."""
        states = np.zeros((1, int(self.state_offsets[-1])))
        values = np.full((1, int(self.output_columns.max(initial=-1)) + 1), np.nan)
        self.advance(states, values, np.zeros(1, dtype=np.int64), np.ones((len(BAR_INPUTS), 1)))

    def gather(self, instruments: Sequence[Sequence[Indicator]]) -> np.ndarray:
        """Return the states of every instrument's indicators, a row per instrument."""
        states = np.empty((len(instruments), int(self.state_offsets[-1])))
        for c, indicators in enumerate(instruments):
            for k, indicator in enumerate(indicators):
                states[c, self.state_offsets[k] : self.state_offsets[k + 1]] = indicator.state
        return states

    def scatter(self, states: np.ndarray, instruments: Sequence[Sequence[Indicator]]) -> None:
        """Write the rows of ``states`` back into the instruments' indicators."""
        for c, indicators in enumerate(instruments):
            for k, indicator in enumerate(indicators):
                indicator.state[:] = states[c, self.state_offsets[k] : self.state_offsets[k + 1]]

    def advance(
        self, states: np.ndarray, values: np.ndarray, codes: np.ndarray, bars: np.ndarray
    ) -> np.ndarray:
        """Advance by bar ``b`` the indicators of instrument ``codes[b]``, bars in order.

        ``bars`` holds the :data:`BAR_INPUTS` of all bars, a row per field. ``values`` (a row
        of column values per instrument) keeps the latest output that is not NaN;
        returns each instrument's values row after each bar.
        """
        after = np.empty((len(codes), values.shape[1]))
        _advance(self.kinds, self.params, self.state_offsets, self.output_offsets,
                 self.output_columns, states, values, codes, bars, after)  # fmt: skip
        return after
