import pyarrow as pa
import pytest

from quoteflow.events import (
    EVENT_TYPES,
    Bar,
    News,
    Quote,
    Ticker,
    Trade,
    arrow_schema,
    event_type,
    from_batch,
    to_batch,
)

SAMPLES = [
    Quote("P", "A", 1, 2, 1.0, 2.0, 1.1, 3.0, "X", "Y", ("R",), "C"),
    Trade("P", "A", 1, 2, 10.5, 3.0, "t1", "X", ("@",), "C", "buy"),
    Ticker("P", "BTC-PERPETUAL", 1, 2, state="open", mark_price=35000.0, delta=0.5),
    Bar("P", "A", 1, 2, "1m", 1.0, 2.0, 0.5, 1.5, 100.0, 7, 1.2, True),
    News("P", "A", 3, 4, "n1", "Headline", 1, ("A", "B"), url="http://example.invalid"),
]


def test_every_record_type_carries_provider_instrument_and_both_timestamps():
    for cls in EVENT_TYPES.values():
        schema = arrow_schema(cls)
        assert schema.names[:4] == ["provider", "instrument", "ts_event", "ts_recv"]
        assert schema.field("ts_event").type == pa.timestamp("ns", tz="UTC")
        assert not schema.field("ts_event").nullable


@pytest.mark.parametrize("record", SAMPLES, ids=lambda r: type(r).__name__)
def test_batch_round_trip_keeps_every_value(record):
    batch = to_batch([record, record])
    assert batch.schema == arrow_schema(type(record))
    assert from_batch(batch) == [record, record]


def test_empty_batch_needs_and_keeps_its_type():
    batch = to_batch([], Quote)
    assert batch.num_rows == 0 and from_batch(batch) == []
    with pytest.raises(TypeError):
        to_batch([])


def test_mixed_types_are_refused():
    with pytest.raises(TypeError, match="one type"):
        to_batch(SAMPLES[:2])


def test_event_type_names_known_types_when_unknown():
    assert event_type("quotes") is Quote
    with pytest.raises(KeyError, match="known: quotes"):
        event_type("quote")
