from datetime import date
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quoteflow.enrich import BEARISH, BULLISH, NEUTRAL, Enricher, PreviousCloses
from quoteflow.enrich.config import EnrichSettings
from quoteflow.events import Bar, EnrichedQuote, EnrichedTrade, Quote, Trade, from_batch, to_batch
from quoteflow.feeds.synthetic import SyntheticMarket
from quoteflow.indicators import rsi, sma
from tests.enrich.reference import by_topic, reference_process

S = 1_000_000_000
MONDAY = pd.Timestamp("2024-04-01 14:00", tz="UTC").value  # after Good Friday 2024-03-29
CLOSES = PreviousCloses({"A": {date(2024, 3, 28): 100.0}, "B": {date(2024, 3, 28): 50.0}})


def trade(ts, price, inst="A"):
    return Trade("T", inst, ts, ts + 1, price, 10.0)


def quote(ts, bid, ask, inst="A"):
    return Quote("T", inst, ts, ts + 1, bid_price=bid, ask_price=ask)


def enriched(outputs):
    """The enriched records of a job's outputs (the engine gives them as Arrow batches)."""
    records = []
    for _, output in outputs:
        if isinstance(output, pa.RecordBatch):
            records.extend(from_batch(output))
        elif isinstance(output, (EnrichedQuote, EnrichedTrade)):
            records.append(output)
    return records


@pytest.mark.parametrize(
    ("price", "move"),
    [(105.0, BULLISH), (104.99, NEUTRAL), (95.0, BEARISH), (95.01, NEUTRAL), (100.0, NEUTRAL)],
)
def test_move_against_the_close_before_good_friday_at_the_5_percent_threshold(price, move):
    job = Enricher(EnrichSettings(indicators="sma:2"), CLOSES)
    out, _ = job.process([trade(MONDAY, price)], job.initial_state())
    (record,) = enriched(out)
    assert (record.previous_close, record.move, record.move_missing) == (100.0, move, None)
    assert record.change_pct == pytest.approx((price / 100 - 1) * 100)
    assert record.price == price and isinstance(record, EnrichedTrade)


ON_THE_THRESHOLD = [
    (close, threshold, sign)
    for close in ("100", "50", "12.5", "37.5", "123.45", "99.99", "3", "65432.1")
    for threshold in ("0.5", "1.25", "2.5", "3.3", "5", "10", "12.5", "50")
    for sign in (1, -1)
]


def _moves(close: float, threshold: float, prices: list[float]) -> tuple[list, list]:
    """Return the moves of ``prices`` by the reference and by the engine."""
    closes = PreviousCloses({"A": {date(2024, 3, 28): close}})
    settings = EnrichSettings(indicators="sma:2", threshold_pct=threshold)
    trades = [trade(MONDAY + i * S, price) for i, price in enumerate(prices)]
    job = Enricher(settings, closes)
    out, _ = reference_process(job, trades, job.initial_state())
    record_path = [r.move for r in enriched(out)]
    job = Enricher(settings, closes)
    out, _ = job.process(to_batch(trades), job.initial_state())
    batch = next(b for topic, b in out if topic == "trades.enriched")
    return record_path, batch.column("move").to_pylist()


@pytest.mark.parametrize(("close", "threshold", "sign"), ON_THE_THRESHOLD)
def test_a_price_exactly_on_the_threshold_takes_the_thresholds_move(close, threshold, sign):
    on = Decimal(close) * (1 + sign * Decimal(threshold) / 100)
    inside = on - sign * Decimal("0.0001")
    record_path, columnar = _moves(float(close), float(threshold), [float(on), float(inside)])
    expected = [BULLISH if sign > 0 else BEARISH, NEUTRAL]
    assert record_path == columnar == expected


def test_the_change_is_price_minus_close_over_close():
    job = Enricher(EnrichSettings(indicators="sma:2", threshold_pct=2.5), CLOSES)
    out, _ = job.process([trade(MONDAY, 102.5)], job.initial_state())
    (record,) = enriched(out)
    assert record.change_pct == (102.5 - 100.0) / 100.0 * 100
    assert record.move == BULLISH


def test_per_instrument_threshold_override():
    job = Enricher(EnrichSettings(indicators="sma:2", thresholds_pct={"B": 1.0}), CLOSES)
    out, _ = job.process([trade(MONDAY, 50.6, "B"), trade(MONDAY, 102.0, "A")], job.initial_state())
    assert [r.move for r in enriched(out)] == [BULLISH, NEUTRAL]


def test_quotes_use_the_last_trade_or_the_mid_when_configured():
    events = [
        quote(MONDAY, 89.0, 91.0),
        trade(MONDAY + S, 106.0),
        quote(MONDAY + 2 * S, 89.0, 91.0),
    ]
    by_trade = Enricher(EnrichSettings(indicators="sma:2"), CLOSES)
    out, state = by_trade.process(events, by_trade.initial_state())
    first, _, last = enriched(out)
    assert (first.move, first.move_missing, last.move, last.move_price) == (
        None,
        "no trade yet",
        BULLISH,
        106.0,
    )
    assert state.missing["no trade yet"] == 1
    by_mid = Enricher(EnrichSettings(indicators="sma:2", price="mid"), CLOSES)
    out, _ = by_mid.process(events, by_mid.initial_state())
    assert [r.move for r in enriched(out)] == [BEARISH, BEARISH, BEARISH]
    assert isinstance(enriched(out)[0], EnrichedQuote)


def test_unknown_previous_close_gives_null_move_with_reason_not_neutral():
    job = Enricher(EnrichSettings(indicators="sma:2"), CLOSES)
    tuesday = MONDAY + 24 * 3600 * S  # Monday's close is not in the reference data
    out, state = job.process(
        [trade(tuesday, 100.0), trade(MONDAY, 1.0, "ZZZ")], job.initial_state()
    )
    assert [(r.move, r.move_missing) for r in enriched(out)] == [
        (None, "no close for 2024-04-01"),
        (None, "no daily closes for the instrument"),
    ]
    assert sum(state.missing.values()) == 2


def test_indicators_are_the_latest_values_on_closed_bars():
    market = SyntheticMarket(["X"], start=date(2024, 4, 1), rate_per_s=0.5, seed=2)
    events = market.advance(3600 * S)
    job = Enricher(EnrichSettings(indicators="sma:5,rsi:3"), PreviousCloses({}))
    out, _ = job.process(events, job.initial_state())
    closed = [r for t, r in out if isinstance(r, Bar)]
    assert all(t == "bars.1m" for t, r in out if isinstance(r, Bar))
    closes = np.array([b.close for b in closed])
    last = enriched(out)[-1]
    assert last.indicators["sma_5"] == pytest.approx(sma(closes, 5)[-1], rel=1e-12)
    assert last.indicators["rsi_3"] == pytest.approx(rsi(closes, 3)[-1], rel=1e-12)
    first = enriched(out)[0]
    assert first.indicators == {}


EVENTS = SyntheticMarket(["X", "Y"], start=date(2024, 4, 1), rate_per_s=0.5, seed=5).advance(
    1200 * S
)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, len(EVENTS) - 1), max_size=6, unique=True).map(sorted))
def test_split_processing_with_snapshot_restore_gives_identical_outputs(splits):
    closes = PreviousCloses({"X": {date(2024, 3, 28): 300.0}, "Y": {date(2024, 3, 28): 400.0}})
    settings_ = EnrichSettings(indicators="sma:3,macd:3:6:2,atr:3", allowed_lateness_ms=100)
    whole, state = Enricher(settings_, closes).process(
        EVENTS, Enricher(settings_, closes).initial_state()
    )
    whole += Enricher(settings_, closes).flush(state)
    parts = []
    job = Enricher(settings_, closes)
    state = job.initial_state()
    for start, stop in zip([0, *splits], [*splits, len(EVENTS)], strict=True):
        job = Enricher(settings_, closes)
        out, state = job.process(EVENTS[start:stop], state)
        parts += out
        state = job.restore(Enricher.snapshot(state))
    parts += job.flush(state)
    assert by_topic(parts) == by_topic(whole)


def test_previous_closes_read_from_an_ohlcv_csv_with_a_ticker_column(tmp_path):
    path = tmp_path / "daily.csv"
    path.write_text("Ticker,Date,Open,High,Low,Close,Volume\nA,2024-03-28,1,2,0.5,100,10\n")
    closes = PreviousCloses.read(path)
    assert closes.lookup("A", MONDAY) == (100.0, None)
