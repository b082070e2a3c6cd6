import asyncio
from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quoteflow.bus import MemoryBus
from quoteflow.bus.base import records_of
from quoteflow.events import Bar, DeadLetter, Quote, Trade
from quoteflow.feeds.base import Normalized
from quoteflow.feeds.synthetic import SyntheticMarket
from quoteflow.indicators.candles import CandleBuilder
from quoteflow.runtime import Pipeline, Stage
from quoteflow.sinks import Sink

S = 1_000_000_000
T0 = pd.Timestamp("2024-03-28 14:00", tz="UTC").value  # a Thursday, 10:00 New York


def trade(ts: int, price: float, inst: str = "A", size: float = 1.0) -> Trade:
    return Trade("T", inst, ts, ts + 5, price, size)


def quote(ts: int, bid: float, ask: float, inst: str = "A") -> Quote:
    return Quote("T", inst, ts, ts + 5, bid_price=bid, ask_price=ask)


def bars(outputs):
    return [record for _, record in outputs if isinstance(record, Bar)]


def dead(outputs):
    return [record for _, record in outputs if isinstance(record, DeadLetter)]


def test_tumbling_minute_bar_from_trades_closes_once_when_the_watermark_passes():
    builder = CandleBuilder("1m")
    state = builder.initial_state()
    out, state = builder.process(
        [trade(T0 + 1 * S, 10.0, size=2), trade(T0 + 20 * S, 12.0), trade(T0 + 59 * S, 11.0)],
        state,
    )
    assert out == []
    out, state = builder.process([trade(T0 + 61 * S, 9.0, size=3)], state)
    (bar,) = bars(out)
    assert (bar.ts_event, bar.open, bar.high, bar.low, bar.close) == (T0, 10.0, 12.0, 10.0, 11.0)
    assert (bar.volume, bar.trade_count, bar.period, bar.final) == (4.0, 3, "1m", True)
    assert bar.vwap == pytest.approx((20 + 12 + 11) / 4)
    assert bar.ts_recv == T0 + 59 * S + 5
    (last,) = bars(builder.flush(state))
    assert (last.ts_event, last.open, last.volume) == (T0 + 60 * S, 9.0, 3.0)
    assert builder.flush(state) == []


def test_out_of_order_events_within_lateness_count_and_keep_event_time_order():
    builder = CandleBuilder("1m", allowed_lateness_ms=5_000)
    state = builder.initial_state()
    out, state = builder.process(
        [trade(T0 + 10 * S, 10.0), trade(T0 + 62 * S, 20.0), trade(T0 + 5 * S, 8.0)], state
    )
    assert out == []  # the watermark (62 s - 5 s) has not passed the first minute's end
    out, state = builder.process([trade(T0 + 66 * S, 21.0)], state)
    (bar,) = bars(out)
    assert (bar.open, bar.close, bar.low, bar.trade_count) == (8.0, 10.0, 8.0, 2)


def test_event_beyond_allowed_lateness_goes_to_dead_letters_and_is_counted():
    builder = CandleBuilder("1m", allowed_lateness_ms=1_000)
    state = builder.initial_state()
    out, state = builder.process([trade(T0 + 10 * S, 10.0), trade(T0 + 70 * S, 11.0)], state)
    assert len(bars(out)) == 1
    out, state = builder.process([trade(T0 + 30 * S, 99.0)], state)
    (letter,) = dead(out)
    assert letter.stage == "candles:1m" and letter.field == "ts_event"
    assert "late" in letter.reason and '"price":99.0' in letter.payload
    assert state.late == 1


def test_hopping_windows_put_each_trade_in_every_window_that_covers_it():
    builder = CandleBuilder("10m", every="5m")
    state = builder.initial_state()
    trades = [trade(T0 + m * 60 * S, 100.0 + m) for m in range(0, 20)]
    out, state = builder.process(trades, state)
    out += builder.flush(state)
    by_start = {b.ts_event: b for b in bars(out)}
    assert by_start[T0].trade_count == 10 and by_start[T0].close == 109.0
    assert by_start[T0 + 300 * S].open == 105.0 and by_start[T0 + 300 * S].trade_count == 10
    assert by_start[T0 - 300 * S].trade_count == 5  # the window that started before T0
    assert {b.period for b in by_start.values()} == {"10m/5m"}


def test_window_without_trades_is_built_from_quote_mids_and_trades_win_when_present():
    builder = CandleBuilder("1m")
    state = builder.initial_state()
    events = [quote(T0 + 1 * S, 9.0, 11.0), quote(T0 + 2 * S, 11.0, 13.0),
              quote(T0 + 61 * S, 1.0, 3.0), trade(T0 + 62 * S, 5.0)]  # fmt: skip
    out, state = builder.process(events, state)
    out += builder.flush(state)
    mid_bar, trade_bar = bars(out)
    assert (mid_bar.open, mid_bar.close, mid_bar.volume, mid_bar.vwap) == (10.0, 12.0, 0.0, None)
    assert (trade_bar.open, trade_bar.volume) == (5.0, 1.0)


def test_daily_bars_are_exchange_sessions_with_early_closes_and_refuse_off_session_events():
    builder = CandleBuilder("1d")
    state = builder.initial_state()
    friday_after_thanksgiving_open = pd.Timestamp("2023-11-24 14:30", tz="UTC").value
    events = [
        trade(friday_after_thanksgiving_open + S, 10.0),
        trade(friday_after_thanksgiving_open + 3 * 3600 * S, 11.0),
        trade(friday_after_thanksgiving_open + 4 * 3600 * S, 12.0),
    ]  # after the 13:00 close
    out, state = builder.process(events, state)
    out += builder.flush(state)
    (bar,) = bars(out)
    assert (bar.ts_event, bar.close, bar.trade_count) == (friday_after_thanksgiving_open, 11.0, 2)
    (letter,) = dead(out)
    assert "outside the XNYS sessions" in letter.reason and state.outside_session == 1


def test_in_progress_updates_are_marked_not_final():
    builder = CandleBuilder("1m", emit_updates=True)
    state = builder.initial_state()
    out, state = builder.process([trade(T0, 10.0), trade(T0 + S, 11.0)], state)
    (update,) = bars(out)
    assert (update.final, update.close, update.trade_count) == (False, 11.0, 2)


def test_minute_bars_match_an_independent_pandas_resample():
    market = SyntheticMarket(["X", "Y"], start=date(2024, 3, 28), rate_per_s=2, seed=3)
    events = [e for e in market.advance(1800 * S) if isinstance(e, Trade)]
    builder = CandleBuilder("1m")
    out, state = builder.process(events, builder.initial_state())
    ours = {(b.instrument, b.ts_event): b for b in bars(out + builder.flush(state))}
    frame = pd.DataFrame(
        {
            "inst": [e.instrument for e in events],
            "ts": [e.ts_event for e in events],
            "price": [e.price for e in events],
            "size": [e.size for e in events],
        }
    )
    frame["minute"] = frame.ts // (60 * S) * (60 * S)
    frame["pv"] = frame.price * frame["size"]
    grouped = frame.sort_values("ts", kind="stable").groupby(["inst", "minute"])
    expected = grouped.agg(open=("price", "first"), high=("price", "max"), low=("price", "min"),
                           close=("price", "last"), volume=("size", "sum"), n=("price", "size"),
                           pv=("pv", "sum"))  # fmt: skip
    assert len(expected) == len(ours) > 50
    for (inst, minute), row in expected.iterrows():
        bar = ours[(inst, minute)]
        assert (bar.open, bar.high, bar.low, bar.close, bar.trade_count) == (
            row.open, row.high, row.low, row.close, row.n)  # fmt: skip
        assert bar.volume == pytest.approx(row.volume)
        assert bar.vwap == pytest.approx(row.pv / row.volume)


EVENTS = [
    e for e in SyntheticMarket(["X", "Y", "Z"], start=date(2024, 3, 28), rate_per_s=1, seed=9)
    .advance(900 * S)
]  # fmt: skip


@settings(max_examples=40, deadline=None)
@given(splits=st.lists(st.integers(1, len(EVENTS) - 1), max_size=8, unique=True).map(sorted),
       hopping=st.booleans(), updates=st.booleans())  # fmt: skip
def test_split_processing_with_snapshot_restore_gives_identical_outputs(splits, hopping, updates):
    def builder():
        return CandleBuilder("1m", every="30s" if hopping else None, allowed_lateness_ms=500,
                             emit_updates=updates)  # fmt: skip

    whole, state = builder().process(EVENTS, builder().initial_state())
    whole += builder().flush(state)
    parts = []
    state = builder().initial_state()
    for start, stop in zip([0, *splits], [*splits, len(EVENTS)], strict=True):
        worker = builder()
        out, state = worker.process(EVENTS[start:stop], state)
        parts += out
        state = CandleBuilder.restore(CandleBuilder.snapshot(state))
    parts += builder().flush(state)
    if updates:  # in-progress bars depend on where the batches end; final bars must not
        whole = [(t, r) for t, r in whole if not isinstance(r, Bar) or r.final]
        parts = [(t, r) for t, r in parts if not isinstance(r, Bar) or r.final]
    assert parts == whole


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"period": "7x"}, "not a period"), ({"period": "10m", "every": "3m"}, "divide"),
     ({"period": "1d", "every": "1h"}, "cannot hop"), ({"allowed_lateness_ms": -1}, ">= 0")],
)  # fmt: skip
def test_bad_window_settings_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CandleBuilder(**kwargs)


async def test_candle_builder_runs_as_a_pipeline_stage():
    class Trades:
        name = "trades"

        async def stream(self):
            yield Normalized(
                [trade(T0 + i * 10 * S, 10.0 + i, inst=f"I{i % 3}") for i in range(40)]
            )

    class Collect(Sink):
        name = "collect"
        topics = ("bars.1m",)

        def __init__(self):
            self.records = []

        async def write(self, messages):
            self.records += records_of(messages)

        async def close(self):
            pass

    sink = Collect()
    stage = Stage("candles", ("trades", "quotes"), CandleBuilder("1m"))
    await asyncio.wait_for(Pipeline(MemoryBus(), [Trades()], [stage], [sink]).run(), 30)
    assert sink.records and all(isinstance(b, Bar) and b.final for b in sink.records)
    assert np.all([b.trade_count >= 1 for b in sink.records])
