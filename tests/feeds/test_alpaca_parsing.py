import msgspec
import pytest

from quoteflow.errors import NormalizeError
from quoteflow.events import Bar, News, Quote, Status, Trade, TradeCancel, TradeCorrection
from quoteflow.feeds.alpaca import parse_frame, parse_message
from quoteflow.formats.reference import to_reference
from tests.conftest import FIXTURES

FRAMES = (FIXTURES / "alpaca" / "stream.jsonl").read_text().splitlines()
QUOTE = {
    "T": "q",
    "S": "AMD",
    "bx": "U",
    "bp": 87.66,
    "bs": 1,
    "ax": "Q",
    "ap": 87.68,
    "as": 4,
    "t": "2021-02-22T15:51:45.335689322Z",
    "c": ["R"],
    "z": "C",
}


def test_parse_frame_when_recorded_stream_gives_every_record_type():
    events = [e for frame in FRAMES for e in parse_frame(frame.encode(), 1).events]
    assert [type(e) for e in events] == [Quote, Trade, Bar, Bar, Bar, Status, News, News,
                                         TradeCorrection, TradeCancel, TradeCancel]  # fmt: skip
    quote, trade, minute, daily, updated, status, news, news2, *_ = events
    assert quote.ts_event == 1614009105335689322
    assert (quote.bid_price, quote.bid_size, quote.ask_price, quote.ask_size) == (
        87.66,
        1,
        87.68,
        4,
    )
    assert (quote.bid_exchange, quote.ask_exchange, quote.conditions, quote.tape) == (
        "U",
        "Q",
        ("R",),
        "C",
    )
    assert (trade.trade_id, trade.price, trade.size, trade.conditions) == (
        "96921",
        126.55,
        1,
        ("@", "I"),
    )
    assert trade.ts_event == 1614009104208000000
    assert (minute.period, minute.corrected, minute.trade_count, minute.vwap) == (
        "1m",
        False,
        461,
        389.062639,
    )
    assert (daily.period, updated.period, updated.corrected) == ("1d", "1m", True)
    assert (minute.final, updated.final, daily.final) == (True, True, False)
    assert (status.status_code, status.reason_code) == ("H", "T12")
    assert {news.instrument, news2.instrument} == {"CRSR", "AAPL"}
    assert news.instruments == ("CRSR", "AAPL")
    assert news.ts_event == 1641420038000000000 and news.created_at == 1641420037000000000


def test_parse_frame_and_parse_message_agree_on_every_message():
    for frame in FRAMES:
        fast = parse_frame(frame.encode(), 3).events
        slow = [e for m in msgspec.json.decode(frame) for e in parse_message(m, 3)]
        assert fast == slow


def test_parse_frame_when_one_message_is_bad_keeps_others_and_dead_letters_it():
    bad = dict(QUOTE, bs=-1)
    frame = msgspec.json.encode([QUOTE, bad, dict(QUOTE, S="AAPL")])
    result = parse_frame(frame, 9)
    assert [e.instrument for e in result.events] == ["AMD", "AAPL"]
    (dead,) = result.rejects
    assert (dead.field, dead.provider, dead.ts_recv) == ("bs", "ALPACA", 9)
    assert msgspec.json.decode(dead.payload) == bad


def test_parse_frame_when_not_json_dead_letters_whole_frame():
    result = parse_frame(b'[{"T":', 0)
    assert not result.events
    assert result.rejects[0].field == "$"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"T": "k"}, "T"),
        ({"T": 5}, "T"),
        ({"bp": "87.66"}, "bp"),
        ({"as": -4}, "as"),
        ({"bp": float("nan")}, "bp"),
        ({"ap": float("inf")}, "ap"),
        ({"t": "2021-02-22T15:51Z"}, "t"),
        ({"t": "2021-02-30T15:51:45Z"}, "t"),
        ({"S": ""}, "S"),
        ({"c": "R"}, "c"),
    ],
)
def test_parse_message_when_field_is_bad_names_it(change, field):
    with pytest.raises(NormalizeError) as info:
        parse_message({**QUOTE, **change}, 0)
    assert info.value.field == field


def test_a_bar_trade_count_beyond_int64_is_rejected_not_stored():
    bar = {"T": "b", "S": "AAPL", "t": "2024-01-02T15:00:00Z", "o": 1, "h": 1, "l": 1, "c": 1,
           "v": 1, "n": 2**64}  # fmt: skip
    with pytest.raises(NormalizeError) as info:
        parse_message(bar, 0)
    assert info.value.field == "n"


def test_parse_message_when_type_missing_says_so():
    message = dict(QUOTE)
    del message["T"]
    with pytest.raises(NormalizeError, match="missing message type"):
        parse_message(message, 0)


def test_parse_message_when_instrument_given_and_different_rejects():
    with pytest.raises(NormalizeError) as info:
        parse_message(QUOTE, 0, instrument="AAPL")
    assert info.value.field == "S"


def test_reference_view_of_alpaca_quote_has_amounts_and_ms():
    (quote,) = parse_message(QUOTE, 1_614_009_105_400_000_000)
    assert to_reference(quote) == {
        "serverTimestamp": 1614009105335,
        "clientTimestamp": 1614009105400,
        "bidPrice": 87.66,
        "bidAmount": 1.0,
        "askPrice": 87.68,
        "askAmount": 4.0,
        "bidExchange": "U",
        "askExchange": "Q",
        "conditions": ["R"],
        "tape": "C",
    }


CORRECTIONS = msgspec.json.decode((FIXTURES / "alpaca" / "corrections.json").read_bytes())


@pytest.mark.parametrize("vector", CORRECTIONS, ids=[v["about"] for v in CORRECTIONS])
def test_corrections_and_cancels_normalize_to_their_exact_records(vector):
    """Trade corrections (c) and cancels/errors (x) arrive with a trades subscription."""
    [event] = parse_message(vector["raw"], vector["receivedAtNs"])
    assert vector["type"] == event.TYPE
    assert msgspec.json.decode(msgspec.json.encode(event)) == vector["record"]
    frame = msgspec.json.encode([vector["raw"]])
    assert parse_frame(frame, vector["receivedAtNs"]).events == [event]


def test_a_cancel_with_an_undocumented_action_is_a_dead_letter():
    raw = {**CORRECTIONS[1]["raw"], "a": "Z"}
    result = parse_frame(msgspec.json.encode([raw, CORRECTIONS[2]["raw"]]), 1)
    assert [e.TYPE for e in result.events] == ["trades.cancels"]
    [letter] = result.rejects
    assert letter.field == "a" and '"a":"Z"' in letter.payload
