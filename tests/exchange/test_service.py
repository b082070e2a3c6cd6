"""The exchange service: validate, log, match; retries, own orders only, amends, restarts."""

from datetime import UTC, datetime
from decimal import Decimal

import msgspec
import pytest

from quoteflow.events.exchange import OrderStatus
from quoteflow.exchange.errors import OrderRejectedError, RejectReason, UnknownOrderError
from quoteflow.exchange.instruments import ExchangeInstrument
from quoteflow.exchange.orders import OrderRequest
from quoteflow.exchange.service import Exchange
from quoteflow.exchange.store import CommandStore

INSTRUMENTS = {"ACME": ExchangeInstrument("ACME", Decimal("0.01"), Decimal("10.00"),
                                          lot_size=10)}  # fmt: skip
OPEN = int(datetime(2024, 4, 2, 15, 0, tzinfo=UTC).timestamp()) * 10**9


class Clock:
    def __init__(self):
        self.now = OPEN

    def __call__(self):
        self.now += 1_000
        return self.now


def request(client_order_id, side="buy", quantity=10, price="10.00", **more):
    fields = {"client_order_id": client_order_id, "symbol": "ACME", "side": side,
              "quantity": quantity, "price": price, **more}  # fmt: skip
    return msgspec.convert(fields, OrderRequest)


@pytest.fixture
def exchange(tmp_path):
    return Exchange(INSTRUMENTS, CommandStore(tmp_path / "x.db"), clock=Clock())


def test_orders_match_and_each_trader_sees_only_their_own(exchange):
    resting = exchange.place(request("b1", quantity=30), "alice")
    assert (resting.status, resting.open, resting.price) == (OrderStatus.NEW, 30, 1000)
    taker = exchange.place(request("s1", side="sell", quantity=20, price="9.99"), "bob")
    assert (taker.status, taker.filled) == (OrderStatus.FILLED, 20)
    assert exchange.order(resting.order_id, "alice").filled == 20
    with pytest.raises(UnknownOrderError):
        exchange.order(resting.order_id, "bob")
    with pytest.raises(UnknownOrderError):
        exchange.cancel(resting.order_id, "bob")
    trade = exchange.trades["ACME"][-1]
    assert (trade.price, trade.quantity, trade.buy_trader, trade.sell_trader) == (
        1000, 20, "alice", "bob")  # fmt: skip


def test_a_retry_changes_nothing_and_a_reused_client_id_is_refused(exchange):
    first = exchange.place(request("c1"), "alice")
    assert exchange.place(request("c1"), "alice") == first
    assert len(list(exchange.store.commands())) == 1
    with pytest.raises(OrderRejectedError) as refused:
        exchange.place(request("c1", quantity=20), "alice")
    assert refused.value.reason is RejectReason.DUPLICATE_CLIENT_ORDER_ID
    assert exchange.place(request("c1"), "bob").order_id != first.order_id


def test_amends_are_validated_like_orders_and_only_open_orders_change(exchange):
    order = exchange.place(request("a1", quantity=30), "alice")
    for change, reason in [({"quantity": 15}, RejectReason.LOT_SIZE),
                           ({"quantity": 10**20}, RejectReason.BAD_QUANTITY),
                           ({"price": Decimal("10.005")}, RejectReason.OFF_TICK),
                           ({"price": Decimal("12.00")}, RejectReason.OUTSIDE_BAND)]:  # fmt: skip
        with pytest.raises(OrderRejectedError) as refused:
            exchange.amend(order.order_id, "alice", **change)
        assert refused.value.reason is reason
    amended = exchange.amend(order.order_id, "alice", quantity=20, price=Decimal("10.01"))
    assert (amended.status, amended.open, amended.price) == (OrderStatus.REPLACED, 20, 1001)
    cancelled = exchange.cancel(order.order_id, "alice")
    assert cancelled.status is OrderStatus.CANCELLED
    assert exchange.cancel(order.order_id, "alice") == cancelled
    with pytest.raises(UnknownOrderError, match="cancelled"):
        exchange.amend(order.order_id, "alice", quantity=10)


def test_a_restart_rebuilds_books_orders_and_trades_from_the_store(tmp_path):
    clock = Clock()
    first = Exchange(INSTRUMENTS, CommandStore(tmp_path / "x.db"), clock=clock)
    first.place(request("b1", quantity=50), "alice")
    first.place(request("s1", side="sell", quantity=20, price="9.98"), "bob")
    first.place(request("b2", quantity=10, price="9.95"), "carol")
    first.store.close()
    again = Exchange(INSTRUMENTS, CommandStore(tmp_path / "x.db"), clock=clock)
    assert again.orders == first.orders
    assert list(again.trades["ACME"]) == list(first.trades["ACME"])
    assert again.depth("ACME", 5) == first.depth("ACME", 5)
    assert again.place(request("b3"), "dave").order_id == 4
    assert again.place(request("b2", quantity=10, price="9.95"), "carol") == first.orders[3]
    with pytest.raises(OrderRejectedError, match="used for another order"):
        again.place(request("b2", quantity=20), "carol")


def test_day_and_gtd_orders_expire_when_the_timer_says_so(exchange):
    gtd = exchange.place(request("g1", time_in_force="GTD",
                                 expire_at="2024-04-02T15:00:01Z"), "alice")  # fmt: skip
    assert exchange.expire_due() == []
    exchange.clock.now = OPEN + 2 * 10**9
    expired = exchange.expire_due()
    assert [(u.order_id, u.status) for u in expired] == [(gtd.order_id, OrderStatus.EXPIRED)]
    assert exchange.order(gtd.order_id, "alice").status is OrderStatus.EXPIRED
