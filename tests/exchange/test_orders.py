"""Order validation: every reason code, exact ticks, and the expiry each order gets."""

from datetime import UTC, datetime
from decimal import Decimal

import msgspec
import pytest

from quoteflow.events.exchange import OrderType, Side, TimeInForce
from quoteflow.exchange.errors import OrderRejectedError, RejectReason
from quoteflow.exchange.instruments import ExchangeInstrument
from quoteflow.exchange.orders import OrderRequest, session_at, validate

INSTRUMENTS = {
    "ACME": ExchangeInstrument("ACME", Decimal("0.01"), Decimal("25.00"), lot_size=100),
    "BTC-USD": ExchangeInstrument("BTC-USD", Decimal("0.5"), Decimal(64000), calendar="24/7"),
}
TUESDAY_11_ET = int(datetime(2024, 4, 2, 15, 0, tzinfo=UTC).timestamp()) * 10**9
TUESDAY_CLOSE = int(datetime(2024, 4, 2, 20, 0, tzinfo=UTC).timestamp()) * 10**9
SATURDAY = int(datetime(2024, 4, 6, 15, 0, tzinfo=UTC).timestamp()) * 10**9


def order(**fields):
    base = {"client_order_id": "c1", "symbol": "ACME", "side": "buy", "quantity": 200,
            "price": "25.10"}  # fmt: skip
    return msgspec.convert({**base, **fields}, OrderRequest)


def test_a_valid_limit_order_becomes_ticks_and_expires_at_the_session_close():
    accepted = validate(order(), "alice", INSTRUMENTS, now_ns=TUESDAY_11_ET)
    assert (accepted.price, accepted.quantity, accepted.trader) == (2510, 200, "alice")
    assert accepted.time_in_force is TimeInForce.DAY and accepted.expire_ns == TUESDAY_CLOSE
    assert accepted.side is Side.BUY and accepted.received_ns == TUESDAY_11_ET


def test_market_orders_default_to_ioc_and_gtd_orders_keep_their_expiry():
    market = validate(order(type="market", price=None), "a", INSTRUMENTS, now_ns=TUESDAY_11_ET)
    assert (market.type, market.price, market.time_in_force, market.expire_ns) == (
        OrderType.MARKET, None, TimeInForce.IOC, None)  # fmt: skip
    gtd = validate(order(time_in_force="GTD", expire_at="2024-04-03T15:00:00Z"), "a",
                   INSTRUMENTS, now_ns=TUESDAY_11_ET)  # fmt: skip
    assert gtd.expire_ns == TUESDAY_11_ET + 86_400 * 10**9
    weekend = validate(order(symbol="BTC-USD", price=64000.5, quantity=1), "a", INSTRUMENTS,
                       now_ns=SATURDAY)  # fmt: skip
    assert weekend.price == 128001


def test_the_band_follows_the_reference_the_engine_gives():
    assert validate(order(price="27.50"), "a", INSTRUMENTS, now_ns=TUESDAY_11_ET).price == 2750
    with pytest.raises(OrderRejectedError) as error:
        validate(order(price="27.50"), "a", INSTRUMENTS, now_ns=TUESDAY_11_ET,
                 reference_ticks=2400)  # fmt: skip
    assert error.value.reason is RejectReason.OUTSIDE_BAND
    assert "outside the band 21.60 to 26.40 (10% around 24.00)" in str(error.value)


@pytest.mark.parametrize(
    ("fields", "now", "reason", "words"),
    [
        ({"symbol": "NOPE"}, TUESDAY_11_ET, RejectReason.UNKNOWN_SYMBOL, "no instrument 'NOPE'"),
        ({"quantity": 0}, TUESDAY_11_ET, RejectReason.BAD_QUANTITY, "must be > 0"),
        ({"quantity": -100}, TUESDAY_11_ET, RejectReason.BAD_QUANTITY, "got -100"),
        ({"quantity": 10**30}, TUESDAY_11_ET, RejectReason.BAD_QUANTITY, "at most"),
        ({"time_in_force": "GTD", "expire_at": "9999-01-01T00:00:00Z"}, TUESDAY_11_ET,
         RejectReason.EXPIRY_NOT_ALLOWED, "beyond 2262"),
        ({"quantity": 150}, TUESDAY_11_ET, RejectReason.LOT_SIZE, "lot size 100"),
        ({"price": None}, TUESDAY_11_ET, RejectReason.PRICE_REQUIRED, "need a price"),
        ({"type": "market"}, TUESDAY_11_ET, RejectReason.PRICE_NOT_ALLOWED, "no price"),
        ({"price": "25.105"}, TUESDAY_11_ET, RejectReason.OFF_TICK, "tick size 0.01"),
        ({"price": "28.00"}, TUESDAY_11_ET, RejectReason.OUTSIDE_BAND, "22.50 to 27.50"),
        ({"price": "0.01"}, TUESDAY_11_ET, RejectReason.OUTSIDE_BAND, "outside the band"),
        ({"type": "market", "price": None, "time_in_force": "DAY"}, TUESDAY_11_ET,
         RejectReason.BAD_TIME_IN_FORCE, "IOC or FOK"),
        ({"time_in_force": "GTD"}, TUESDAY_11_ET, RejectReason.EXPIRY_REQUIRED, "expire_at"),
        ({"expire_at": "2024-04-03T15:00:00Z"}, TUESDAY_11_ET, RejectReason.EXPIRY_NOT_ALLOWED,
         "not DAY"),
        ({"time_in_force": "GTD", "expire_at": "2024-04-02T14:59:59Z"}, TUESDAY_11_ET,
         RejectReason.EXPIRED, "in the past"),
        ({}, SATURDAY, RejectReason.MARKET_CLOSED, "not trading now"),
    ],
)  # fmt: skip
def test_each_bad_order_is_rejected_with_its_reason(fields, now, reason, words):
    with pytest.raises(OrderRejectedError) as error:
        validate(order(**fields), "alice", INSTRUMENTS, now_ns=now)
    assert error.value.reason is reason
    assert words in str(error.value)


def test_malformed_requests_fail_decoding_with_the_field_named():
    cases = [({"side": "hold"}, "$.side"), ({"quantity": 1.5}, "$.quantity"),
             ({"price": "abc"}, "$.price"), ({"colour": "red"}, "colour")]  # fmt: skip
    for fields, field in cases:
        with pytest.raises(msgspec.ValidationError, match=field.replace("$", r"\$")):
            order(**fields)


def test_sessions_are_found_by_calendar():
    assert session_at("XNYS", TUESDAY_11_ET)[1] == TUESDAY_CLOSE
    assert session_at("XNYS", SATURDAY) is None and session_at("XNYS", TUESDAY_CLOSE) is None
