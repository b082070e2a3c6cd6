import msgspec
import pytest

from quoteflow.errors import NormalizeError
from quoteflow.events import Ticker
from quoteflow.feeds.deribit import parse_frame, parse_message
from tests.conftest import load_vector


@pytest.fixture
def raw() -> dict:
    return dict(load_vector("deribit_option_ticker")["raw"])


def test_parse_message_when_option_ticker_fills_greeks_and_ivs(raw):
    (ticker,) = parse_message(raw, 7)
    assert isinstance(ticker, Ticker)
    assert ticker.ts_event == 1698922588675 * 1_000_000
    assert ticker.ts_recv == 7
    assert (ticker.delta, ticker.mark_iv, ticker.underlying_index) == (
        0.52191,
        54.66,
        "BTC-10NOV23",
    )


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("best_bid_amount", -1, "best_bid_amount"),
        ("best_bid_price", "35406", "best_bid_price"),
        ("timestamp", 1.5, "timestamp"),
        ("timestamp", -1, "timestamp"),
        ("mark_price", float("nan"), "mark_price"),
        ("mark_price", float("inf"), "mark_price"),
        ("open_interest", True, "open_interest"),
        ("instrument_name", "", "instrument_name"),
        ("stats", {"volume": -3}, "stats.volume"),
        ("greeks", {"delta": "x"}, "greeks.delta"),
    ],
)
def test_parse_message_when_field_is_bad_names_it(raw, field, value, named):
    raw[field] = value
    with pytest.raises(NormalizeError) as info:
        parse_message(raw, 0)
    assert info.value.field == named


def test_parse_message_when_required_field_missing_names_it(raw):
    del raw["timestamp"]
    with pytest.raises(NormalizeError) as info:
        parse_message(raw, 0)
    assert (info.value.field, info.value.reason) == ("timestamp", "missing required field")


def test_parse_message_when_instrument_differs_rejects(raw):
    with pytest.raises(NormalizeError, match="instrument_name"):
        parse_message(raw, 0, instrument="BTC-PERPETUAL")


def test_parse_message_when_not_a_ticker_channel_rejects(raw):
    message = {"method": "subscription", "params": {"channel": "book.BTC-PERPETUAL", "data": raw}}
    with pytest.raises(NormalizeError) as info:
        parse_message(message, 0)
    assert info.value.field == "params.channel"


def test_parse_frame_when_valid_returns_ticker_and_when_bad_returns_dead_letter(raw):
    good = {
        "jsonrpc": "2.0",
        "method": "subscription",
        "params": {"channel": "ticker.X.100ms", "data": raw},
    }
    result = parse_frame(msgspec.json.encode(good), 5)
    assert len(result.events) == 1 and not result.rejects
    good["params"]["data"]["best_ask_amount"] = -1
    result = parse_frame(msgspec.json.encode(good), 5)
    assert not result.events
    (dead,) = result.rejects
    assert (dead.provider, dead.field, dead.stage) == (
        "DERIBIT",
        "params.data.best_ask_amount",
        "normalize",
    )
    assert "best_ask_amount" in dead.payload
