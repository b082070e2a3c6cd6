"""The enrichment job applies trade corrections and cancels to the candles it has built."""

from datetime import date

import pandas as pd
import pytest

from quoteflow.enrich import Enricher, PreviousCloses
from quoteflow.enrich.amendments import APPLIED_TO_CLOSED, APPLIED_TO_OPEN, TOO_OLD
from quoteflow.enrich.config import EnrichSettings
from quoteflow.events import Bar, Trade, TradeCancel, TradeCorrection, to_batch
from quoteflow.indicators.candles import CandleBuilder

S = 1_000_000_000
MINUTE = 60 * S
MONDAY = pd.Timestamp("2024-04-01 14:00", tz="UTC").value
CLOSES = PreviousCloses({"A": {date(2024, 3, 28): 100.0}})


def trade(ts: int, price: float, trade_id: str, size: float = 10.0) -> Trade:
    return Trade("ALPACA", "A", ts, ts + 1, price, size, trade_id, "P")


def correct(original: Trade, price: float, size: float, recv: int) -> TradeCorrection:
    return TradeCorrection("ALPACA", "A", original.ts_event, recv, original.price, original.size,
                           price, size, original.trade_id, original.trade_id + "c", None, None,
                           "P")  # fmt: skip


def cancel(original: Trade, recv: int) -> TradeCancel:
    return TradeCancel("ALPACA", "A", original.ts_event, recv, original.price, original.size,
                       "cancel", original.trade_id, "P")  # fmt: skip


def reference_bars(trades: list[Trade]) -> list[Bar]:
    """The bars of the trades as they stand after the amendments: what the job must give."""
    builder = CandleBuilder("1m")
    state = builder.initial_state()
    out, _ = builder.process(trades, state)
    return [bar for _, bar in out + builder.flush(state)]


def bars(outputs) -> list[Bar]:
    return [record for _, record in outputs if isinstance(record, Bar)]


MINUTE_0 = [trade(MONDAY + i * S, 100.0 + i, f"t{i}") for i in range(3)]
LATER = trade(MONDAY + MINUTE + S, 105.0, "t9")  # its minute closes minute 0


def run(job: Enricher, batches: list[list], columnar: bool) -> tuple[list, object]:
    state, out = job.initial_state(), []
    for batch in batches:
        if columnar and batch and type(batch[0]) is Trade:
            produced, state = job.process(to_batch(batch), state)
        else:
            produced, state = job.process(batch, state)
        out.extend(produced)
    out.extend(job.flush(state))
    return out, state


@pytest.mark.parametrize("columnar", [False, True], ids=["records", "arrow"])
def test_a_correction_inside_an_open_candle_changes_the_bar_it_closes_with(columnar):
    job = Enricher(EnrichSettings(indicators="sma:2"), CLOSES)
    fix = correct(MINUTE_0[1], 110.0, 30.0, MONDAY + 5 * S)
    out, state = run(job, [MINUTE_0, [fix]], columnar)
    corrected = [MINUTE_0[0], trade(MINUTE_0[1].ts_event, 110.0, "t1c", 30.0), MINUTE_0[2]]
    [bar] = bars(out)
    assert bar == reference_bars(corrected)[0]
    assert (bar.high, bar.volume, bar.corrected) == (110.0, 50.0, False)
    assert state.amended == {APPLIED_TO_OPEN: 1}


@pytest.mark.parametrize("columnar", [False, True], ids=["records", "arrow"])
def test_a_cancel_after_the_candle_closed_emits_a_corrected_bar_and_counts_it(columnar):
    job = Enricher(EnrichSettings(indicators="sma:2"), CLOSES)
    out, state = run(job, [MINUTE_0, [LATER], [cancel(MINUTE_0[2], MONDAY + 2 * MINUTE)]],
                     columnar)  # fmt: skip
    first, corrected, later = bars(out)
    assert first == reference_bars(MINUTE_0)[0] and not first.corrected
    expected = reference_bars(MINUTE_0[:2])[0]
    assert corrected.corrected and corrected.final
    assert (corrected.ts_event, corrected.open, corrected.high, corrected.close,
            corrected.volume, corrected.trade_count, corrected.vwap) == (
        expected.ts_event, expected.open, expected.high, expected.close,
        expected.volume, expected.trade_count, expected.vwap)  # fmt: skip
    assert later.ts_event == MONDAY + MINUTE
    assert state.amended == {APPLIED_TO_CLOSED: 1}


@pytest.mark.parametrize("columnar", [False, True], ids=["records", "arrow"])
def test_a_corrected_bar_leaves_out_the_late_trades_its_first_bar_left_out(columnar):
    job = Enricher(EnrichSettings(indicators="sma:2"), CLOSES)
    late = trade(MONDAY + 5 * S, 150.0, "late")  # minute 0 closed when it came: a dead letter
    out, state = run(job, [MINUTE_0, [LATER], [late], [cancel(MINUTE_0[2], MONDAY + 2 * MINUTE)]],
                     columnar)  # fmt: skip
    corrected = [bar for bar in bars(out) if bar.corrected]
    assert [(b.high, b.volume) for b in corrected] == [(101.0, 20.0)]  # t0 and t1 only
    assert state.candles.late == 1


def test_an_amendment_that_comes_before_its_trade_waits_for_it():
    job = Enricher(EnrichSettings(indicators="sma:2"), CLOSES)
    early = correct(MINUTE_0[2], 90.0, 10.0, MONDAY)
    out, state = run(job, [MINUTE_0[:2], [early], MINUTE_0[2:]], columnar=False)
    [bar] = bars(out)
    assert (bar.low, bar.close) == (90.0, 90.0)
    assert state.amended == {APPLIED_TO_OPEN: 1}


def test_an_amendment_older_than_the_horizon_is_counted_and_changes_nothing():
    job = Enricher(EnrichSettings(indicators="sma:2", correction_horizon_s=30), CLOSES)
    out, state = run(job, [MINUTE_0, [LATER], [cancel(MINUTE_0[0], MONDAY + 2 * MINUTE)]],
                     columnar=False)  # fmt: skip
    assert [bar.corrected for bar in bars(out)] == [False, False]
    assert state.amended == {TOO_OLD: 1}


def test_the_ledger_and_waiting_amendments_survive_a_snapshot():
    job = Enricher(EnrichSettings(indicators="sma:2"), CLOSES)
    state = job.initial_state()
    _, state = job.process([*MINUTE_0[:2], correct(MINUTE_0[2], 90.0, 10.0, MONDAY)], state)
    restored = job.restore(job.snapshot(state))
    out, restored = job.process([MINUTE_0[2], cancel(MINUTE_0[0], MONDAY + 4 * S)], restored)
    [bar] = bars(out + job.flush(restored))
    assert bar == reference_bars([MINUTE_0[1], trade(MINUTE_0[2].ts_event, 90.0, "t2c")])[0]
    assert restored.amended == {APPLIED_TO_OPEN: 2}


def test_the_job_reads_the_amendment_topics():
    job = Enricher(EnrichSettings(), CLOSES)
    assert set(job.input_topics) == {"quotes", "trades", "trades.corrections", "trades.cancels"}
