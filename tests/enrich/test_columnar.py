"""The batch engine gives the reference's outputs and state, however the stream is cut.

The reference (:mod:`tests.enrich.reference`) enriches one record at a time.
The engine takes the events as records, as Arrow batches of one record type,
or a mix of both across cuts, with a state snapshot and restore at every cut.
"""

import itertools
from datetime import date

import msgspec
import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from quoteflow.enrich import Enricher, PreviousCloses
from quoteflow.enrich._kernel import span
from quoteflow.enrich.config import AlertSettings, EnrichSettings
from quoteflow.events import DeadLetter, Quote, Trade, to_batch
from tests.enrich.reference import by_topic, reference_process

S = 1_000_000_000
START = pd.Timestamp("2024-04-01 13:20", tz="UTC").value  # ten minutes before the open
CLOSES = PreviousCloses(
    {
        "A": {date(2024, 3, 28): 100.0, date(2024, 4, 1): 104.0, date(2024, 4, 2): 96.0},
        "B": {date(2024, 3, 28): 0.0},
    }
)
ALERTS = AlertSettings(sma_cross=(2, 3), rsi_period=2, volume_spike_factor=1.5,
                       levels={"A": [100.0, 103.0], "C": [50.0]})  # fmt: skip
CONFIGS = [
    EnrichSettings(period="1m", indicators="sma:3,rsi:2,atr:2", alerts=ALERTS),
    EnrichSettings(
        period="5m",
        every="1m",
        price="mid",
        allowed_lateness_ms=90_000,
        indicators="macd:2:3:2,obv",
        alerts=ALERTS,
    ),
    EnrichSettings(
        period="1d",
        price="mid",
        allowed_lateness_ms=3_600_000,
        alerts=ALERTS,
        thresholds_pct={"A": 2.0},
    ),
    EnrichSettings(
        period="1m",
        price="mid",
        allowed_lateness_ms=20_000,
        indicators="ema:2",
        alerts=AlertSettings(sma_cross=None, session_extremes=False),
    ),
    EnrichSettings(  # no price alerts: the loop is compiled without them
        period="2m",
        price="mid",
        allowed_lateness_ms=30_000,
        indicators="sma:2",
        alerts=AlertSettings(levels={}, session_extremes=False, move_changes=False),
    ),
]

step = st.one_of(st.integers(-200, 100), st.integers(0, 100), st.integers(0, 30_000))
event = st.tuples(
    step,
    st.sampled_from("ABC"),
    st.sampled_from(["quote", "quote", "trade", "no ask"]),
    st.floats(-4.0, 4.0),
)


def decoded(snapshot: bytes) -> list:
    """A state snapshot as values; its trade ledger as rows (Arrow bytes vary with batching)."""
    fields = msgspec.msgpack.decode(snapshot)
    ledger = msgspec.msgpack.decode(fields[3])
    ledger[0] = pa.ipc.open_stream(ledger[0]).read_all().to_pylist()
    fields[3] = ledger
    return fields


def build(draws: list) -> list[Quote | Trade]:
    """Turn drawn (seconds step, instrument, kind, price offset) into events."""
    events: list[Quote | Trade] = []
    ts = START
    for seconds, instrument, kind, offset in draws:
        ts += seconds * S
        price = {"A": 102.0, "B": 20.0, "C": 50.0}[instrument] + offset
        if kind == "trade":
            events.append(Trade("T", instrument, ts, ts + 5, price, 1.0 + abs(offset)))
        else:
            ask = None if kind == "no ask" else price + 0.02
            events.append(Quote("T", instrument, ts, ts + 5, bid_price=price, ask_price=ask))
    return events


def run_columnar(job: Enricher, events: list, state):
    """Feed the events as Arrow batches, one per run of the same record type."""
    outputs = []
    for kind, run in itertools.groupby(events, key=type):
        out, state = job.process(to_batch(list(run), kind), state)
        for _, record in out:
            if isinstance(record, pa.RecordBatch):
                record.validate(full=True)  # the columns built from buffers are sound
        outputs += out
    return outputs, state


def both_paths(events: list, settings_: EnrichSettings):
    """Return the (outputs, state) of the record path and of the columnar path on ``events``."""
    reference = Enricher(settings_, CLOSES)
    recorded = reference_process(reference, events, reference.initial_state())
    job = Enricher(settings_, CLOSES)
    return recorded, run_columnar(job, events, job.initial_state())


@settings(max_examples=75, deadline=None)
@given(
    st.lists(event, min_size=30, max_size=200),
    st.sampled_from(range(len(CONFIGS))),
    st.lists(st.tuples(st.floats(0, 1), st.booleans()), max_size=5),
)
def test_the_engine_matches_the_reference_however_the_stream_is_cut(draws, config, cuts):
    events, settings_ = build(draws), CONFIGS[config]
    reference = Enricher(settings_, CLOSES)
    whole, state = reference_process(reference, events, reference.initial_state())
    whole += reference.flush(state)

    bounds = sorted({int(f * len(events)) for f, _ in cuts})
    paths = [*(columnar for _, columnar in cuts[: len(bounds)]), True]
    job = Enricher(settings_, CLOSES)
    mixed, mixed_state = [], job.initial_state()
    for (start, stop), columnar in zip(
        itertools.pairwise([0, *bounds, len(events)]), paths, strict=True
    ):
        job = Enricher(settings_, CLOSES)
        part = events[start:stop]
        out, mixed_state = (
            run_columnar(job, part, mixed_state) if columnar else job.process(part, mixed_state)
        )
        mixed += out
        mixed_state = job.restore(Enricher.snapshot(mixed_state))
    mixed += job.flush(mixed_state)

    assert by_topic(mixed) == by_topic(whole)
    assert decoded(Enricher.snapshot(mixed_state)) == decoded(Enricher.snapshot(state))


def test_the_enriched_records_come_as_one_arrow_batch_with_late_events_dead_lettered():
    events = build([(60, "A", "trade", 0.0), (-100, "A", "trade", 1.0), (101, "A", "quote", 0.0)])
    job = Enricher(CONFIGS[0], CLOSES)
    outputs, _ = run_columnar(job, events, job.initial_state())
    batches = [r for _, r in outputs if isinstance(r, pa.RecordBatch)]
    assert [b.num_rows for b in batches] == [2, 1]
    letters = [r for t, r in outputs if t == DeadLetter.TOPIC]
    assert len(letters) == 1 and letters[0].reason.startswith("late: 100000.000 ms")


def test_instruments_first_priced_deep_in_a_long_batch_start_their_candles_in_that_order():
    draws = [(1, "A", "quote", (i % 7) / 10) for i in range(5000)]
    draws[1500] = (1, "C", "no ask", 0.0)  # unpriced: the instrument has no candles yet
    draws[3100] = (1, "C", "quote", 0.5)
    draws[2000] = (1, "B", "quote", 0.1)
    (whole, state), (columnar, columnar_state) = both_paths(build(draws), CONFIGS[3])
    assert by_topic(columnar) == by_topic(whole)
    assert list(columnar_state.candles.instruments) == list(state.candles.instruments)
    assert decoded(Enricher.snapshot(columnar_state)) == decoded(Enricher.snapshot(state))


def test_a_batch_firing_more_alerts_than_the_buffers_hold_matches_the_reference():
    draws = [(1, "A", "trade", 3.0 if i % 2 else -3.0) for i in range(300)]  # across 100 each time
    (whole, _), (columnar, _) = both_paths(build(draws), CONFIGS[0])
    assert by_topic(columnar) == by_topic(whole)
    assert len(by_topic(whole)["alerts"]) > 200


@settings(deadline=None)  # the first call loads the compiled kernel
@given(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1))
def test_span_is_the_smallest_and_largest_value_of_an_array(values):
    assert span(np.array(values, dtype=np.int64)) == (min(values), max(values))
