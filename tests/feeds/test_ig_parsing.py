import pytest

from quoteflow.errors import NormalizeError
from quoteflow.feeds.ig import parse_message
from tests.conftest import load_vector

EPIC = "CS.D.BITCOIN.CFE.IP"


@pytest.fixture
def raw() -> dict:
    return dict(load_vector("ig_quote")["raw"])


def test_parse_message_when_empty_string_gives_null(raw):
    raw["LTP"] = ""
    raw["TTV"] = None
    (quote,) = parse_message(raw, 0, instrument=EPIC)
    assert quote.last_price is None and quote.volume is None
    assert quote.bid_price == 35328.9


def test_parse_message_when_market_state_given_keeps_it(raw):
    raw["MARKET_STATE"] = "TRADEABLE"
    (quote,) = parse_message(raw, 0, instrument=EPIC)
    assert quote.market_state == "TRADEABLE"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("BID", "abc"),
        ("BID", "nan"),
        ("OFR", "inf"),
        ("OFR", "1e999"),
        ("LTV", "-1"),
        ("TTV", "-0.5"),
        ("BID", 35328.9),
        ("DAY_HIGH", "1_000"),
        ("UTM", "12.5"),
        ("UTM", ""),
        ("UTM", "99999999999999999"),
        ("MARKET_STATE", "open now"),
    ],
)
def test_parse_message_when_value_is_bad_names_field(raw, field, value):
    raw[field] = value
    with pytest.raises(NormalizeError) as info:
        parse_message(raw, 0, instrument=EPIC)
    assert info.value.field == field


def test_parse_message_when_no_instrument_says_epic_is_needed(raw):
    with pytest.raises(NormalizeError, match="epic"):
        parse_message(raw, 0)


def test_parse_message_when_negative_price_change_keeps_sign(raw):
    (quote,) = parse_message(raw, 0, instrument=EPIC)
    assert quote.day_net_change_mid == -43.0
