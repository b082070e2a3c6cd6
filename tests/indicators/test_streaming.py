"""The streaming form equals the batch form, across any split, through snapshot and restore."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quoteflow import indicators as ind

rng = np.random.default_rng(11)
N = 400
CLOSE = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, N)))
HIGH = CLOSE * (1 + rng.uniform(0, 0.01, N))
LOW = CLOSE * (1 - rng.uniform(0, 0.01, N))
VOLUME = rng.integers(100, 10_000, N).astype(float)
SESSION = np.repeat(np.arange(N // 50), 50).astype(float)
INPUTS = {"close": CLOSE, "high": HIGH, "low": LOW, "volume": VOLUME, "price": CLOSE,
          "session": SESSION}  # fmt: skip

FACTORIES = [
    lambda: ind.SMA(20), lambda: ind.EMA(12), lambda: ind.WMA(10), lambda: ind.RSI(14),
    lambda: ind.MACD(12, 26, 9), lambda: ind.BollingerBands(20, 2.0, 1.5), lambda: ind.ATR(14),
    lambda: ind.Stochastic(5, 3, 3), lambda: ind.ADX(14), lambda: ind.OBV(),
    lambda: ind.SessionVWAP(),
]  # fmt: skip


def columns(indicator, start=0, stop=N):
    return [INPUTS[name][start:stop] for name in indicator.inputs]


@pytest.mark.parametrize("factory", FACTORIES)
def test_one_value_at_a_time_equals_one_batch(factory):
    batch = factory().update_batch(*columns(factory()))
    stream = factory()
    rows = [stream.update(*(column[i] for column in columns(stream))) for i in range(N)]
    np.testing.assert_array_equal(np.array(rows, dtype=float).reshape(batch.shape), batch)


@pytest.mark.parametrize("factory", FACTORIES)
def test_updates_from_records_equal_one_batch(factory):
    batch = factory().update_batch(*columns(factory()))
    stream = factory()
    records = [SimpleNamespace(**{name: values[i] for name, values in INPUTS.items()})
               for i in range(N)]  # fmt: skip
    rows = [stream.update_from(record) for record in records]
    np.testing.assert_array_equal(np.array(rows, dtype=float).reshape(batch.shape), batch)


@pytest.mark.parametrize("factory", FACTORIES)
def test_first_output_comes_after_the_lookback(factory):
    indicator = factory()
    out = indicator.update_batch(*columns(indicator))
    first = out if out.ndim == 1 else out[:, 0]
    assert np.isnan(first[: indicator.lookback]).all()
    assert not math.isnan(first[indicator.lookback])


@settings(max_examples=60, deadline=None)
@given(
    which=st.integers(0, len(FACTORIES) - 1),
    splits=st.lists(st.integers(1, N - 1), max_size=6, unique=True).map(sorted),
)
def test_split_stream_with_snapshot_restore_equals_one_batch(which, splits):
    factory = FACTORIES[which]
    whole = factory().update_batch(*columns(factory()))
    indicator = factory()
    parts = []
    for start, stop in zip([0, *splits], [*splits, N], strict=True):
        parts.append(indicator.update_batch(*columns(indicator, start, stop)))
        indicator = type(indicator).restore(indicator.snapshot())
    np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_restore_refuses_another_indicators_snapshot_and_garbage():
    with pytest.raises(ValueError, match="snapshot of SMA"):
        ind.EMA.restore(ind.SMA(5).snapshot())
    with pytest.raises(ValueError):
        ind.SMA.restore(b"\x00garbage")


def test_bad_parameters_and_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="period"):
        ind.SMA(0)
    with pytest.raises(TypeError, match="high, low, close"):
        ind.ATR(14).update_batch(CLOSE)
    with pytest.raises(ValueError, match="same length"):
        ind.ATR(14).update_batch(HIGH, LOW[:-1], CLOSE)
