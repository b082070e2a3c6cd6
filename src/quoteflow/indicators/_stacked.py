"""The indicators of many instruments, advanced by their closed bars in one compiled call.

Streaming indicators advance one bar at a time through Python, about a
microsecond of call overhead per indicator and bar. The columnar enrichment
path closes many bars per batch; :class:`StackedIndicators` keeps the states of
one indicator set for many instruments as the rows of one array and runs the
same kernels over all of a batch's bars in one call, so the numbers are those
of :class:`~quoteflow.indicators.base.Indicator` to the last bit.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numba
import numpy as np
from numba import types
from numba.core.errors import NumbaExperimentalFeatureWarning
from numba.typed import List

from quoteflow.indicators.base import BAR_STEP, Indicator

__all__ = ["BAR_INPUTS", "StackedIndicators"]

BAR_INPUTS = ("high", "low", "close", "volume")
"""The bar fields :meth:`StackedIndicators.advance` takes, in this order."""

# Each indicator's bar step is a compiled function of one signature (base.BAR_STEP): the
# loop below calls them through a typed list of function pointers, numba's "first-class
# functions", which it still labels experimental. The loop compiles once, cached on disk,
# whatever the indicators; the numbers are those of the streaming form to the last bit.
warnings.filterwarnings("ignore", category=NumbaExperimentalFeatureWarning)


@numba.njit(cache=True)
def _advance(steps, params, state_offsets, output_offsets, output_columns,
             states, values, codes, bars, out, after):  # fmt: skip
    """Advance instrument ``codes[b]``'s indicators by bar ``b``, for every bar in order.

    ``bars`` holds the fields of :data:`BAR_INPUTS`, a row per field. Outputs that are not
    NaN replace the instrument's ``values``; ``after[b]`` gets its values after bar b.
    """
    for b in range(codes.shape[0]):
        c = codes[b]
        high, low = bars[0, b : b + 1], bars[1, b : b + 1]
        close, volume = bars[2, b : b + 1], bars[3, b : b + 1]
        for k in range(len(steps)):
            state = states[c, state_offsets[k] : state_offsets[k + 1]]
            steps[k](state, params[k], high, low, close, volume, out)
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
        """Lay out the states and outputs of ``template`` (ValueError: no bar step)."""
        unknown = [type(i).__name__ for i in template if type(i).bar_step is None]
        if unknown:
            raise ValueError(f"no stacked form for {', '.join(unknown)}: no bar_step declared")
        self.steps = List.empty_list(types.FunctionType(BAR_STEP))
        for indicator in template:
            self.steps.append(type(indicator).bar_step)
        self.params = np.zeros((len(template), max((len(i.params) for i in template), default=0)))
        self.widest = max((len(i.outputs) for i in template), default=0)
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
        """Load the compiled code now, not at the first bar of a live feed."""
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
        if self.steps:
            out = np.empty((1, self.widest))
            _advance(self.steps, self.params, self.state_offsets, self.output_offsets,
                     self.output_columns, states, values, codes, bars, out, after)  # fmt: skip
        else:
            after[:] = values[codes]
        return after
