"""Stacked indicators give the streaming indicators' numbers and states to the last bit."""

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from quoteflow.indicators import SessionVWAP
from quoteflow.indicators._stacked import BAR_INPUTS, StackedIndicators
from quoteflow.indicators.base import BAR_STEP, SPECS, Indicator
from quoteflow.indicators.spec import parse_specs, spec_names

EVERY_KIND = "sma:3,ema:4,wma:3,rsi:2,macd:2:4:2,bbands:3:1.5,atr:2,stoch:3:2:2,adx:2,obv,sma:3"


BAR = st.tuples(st.integers(0, 3), st.floats(1.0, 100.0), st.floats(0.0, 5.0),
                st.floats(0.0, 1000.0))  # fmt: skip


@settings(max_examples=40, deadline=None)
@given(st.lists(BAR, max_size=120), st.integers(1, 5))
def test_stacked_bars_match_one_indicator_per_instrument(draws, instruments):
    specs = parse_specs(EVERY_KIND)
    names = [spec.columns() for spec in specs]
    columns = list(dict.fromkeys(name for group in names for name in group))
    streaming = [[spec.build() for spec in specs] for _ in range(instruments)]
    expected_values = [dict.fromkeys(columns, np.nan) for _ in range(instruments)]
    expected_after = []
    bars = []
    for code, close, spread, volume in draws:
        bar = SimpleNamespace(high=close + spread, low=close - spread, close=close, volume=volume)
        code %= instruments
        bars.append((code, bar))
        for group, indicator in zip(names, streaming[code], strict=True):
            for name, value in zip(group, indicator.update_from(bar), strict=True):
                if value == value:
                    expected_values[code][name] = value
        expected_after.append(list(expected_values[code].values()))

    stacked = StackedIndicators([spec.build() for spec in specs], names, columns)
    fresh = [[spec.build() for spec in specs] for _ in range(instruments)]
    states = stacked.gather(fresh)
    values = np.full((instruments, len(columns)), np.nan)
    fields = np.array([[getattr(bar, f) for f in BAR_INPUTS] for _, bar in bars]).reshape(-1, 4)
    codes = np.array([code for code, _ in bars], dtype=np.int64)
    after = stacked.advance(states, values, codes, np.ascontiguousarray(fields.T))

    np.testing.assert_array_equal(after, np.array(expected_after).reshape(after.shape))
    np.testing.assert_array_equal(values, [list(v.values()) for v in expected_values])
    stacked.scatter(states, fresh)
    for mine, theirs in zip(fresh, streaming, strict=True):
        for a, b in zip(mine, theirs, strict=True):
            np.testing.assert_array_equal(a.state, b.state)


def test_every_spec_name_has_a_stacked_form_and_others_are_refused():
    specs = parse_specs(",".join(spec_names()))
    StackedIndicators([spec.build() for spec in specs], [s.columns() for s in specs],
                      [c for s in specs for c in s.columns()])  # fmt: skip
    with pytest.raises(ValueError, match="no stacked form for SessionVWAP"):
        StackedIndicators([SessionVWAP()], [["vwap"]], ["vwap"])


@njit(cache=False)
def _momentum_kernel(s, period, x, out):
    # State: count, ring of `period` values.
    ring = s[1:]
    count = int(s[0])
    for i in range(x.size):
        pos = count % period
        out[i, 0] = x[i] - ring[pos] if count >= period else np.nan
        ring[pos] = x[i]
        count += 1
    s[0] = count


@njit(BAR_STEP, cache=False)
def _momentum_bar(s, p, high, low, close, volume, out):
    _momentum_kernel(s, int(p[0]), close, out)


def test_an_indicator_declared_in_one_class_is_known_to_specs_and_to_the_stacked_form():
    class Momentum(Indicator):
        outputs = ("mom",)
        kernel = _momentum_kernel
        bar_step = _momentum_bar
        spec_name = "mom"
        spec_defaults = (3,)

        def __init__(self, period: int = 3) -> None:
            super().__init__(period, state_size=period + 1, lookback=period)

    try:
        (spec,) = parse_specs("mom")
        assert spec.params == (3,) and spec.columns() == ["mom_3"]
        closes = np.array([1.0, 2.0, 4.0, 7.0, 11.0])
        streaming = spec.build().update_batch(closes)
        np.testing.assert_array_equal(streaming[3:], [6.0, 9.0])
        stacked = StackedIndicators([spec.build()], [["mom_3"]], ["mom_3"])
        states = stacked.gather([[spec.build()]])
        values = np.full((1, 1), np.nan)
        bars = np.zeros((len(BAR_INPUTS), len(closes)))
        bars[BAR_INPUTS.index("close")] = closes
        after = stacked.advance(states, values, np.zeros(len(closes), dtype=np.int64), bars)
        np.testing.assert_array_equal(after[3:, 0], streaming[3:])
    finally:
        del SPECS["mom"]
