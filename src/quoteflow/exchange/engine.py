"""The matching engine: price-time priority over integer ticks, deterministic.

One engine holds the books of the symbols of one ``orders`` partition and
applies commands in order: :meth:`Engine.submit` (an accepted order),
:meth:`Engine.cancel`, :meth:`Engine.amend` and :meth:`Engine.expire` (time
passing). Each returns what happened, as :class:`OrderUpdate` and
:class:`Execution` records, in the order it happened; the same commands always
give the same records.

Rules: the best price first, then the oldest order at that price. An incoming
order trades at the resting order's price. Market orders take what the book
offers up to the edge of the price band (never beyond). IOC orders cancel what
does not trade at once; FOK orders trade entirely at once or not at all (with
no side effects). An incoming order never trades with its own trader's resting
orders: those are cancelled instead (self-trade prevention). Reducing an
order's quantity keeps its place; changing its price, or raising its quantity,
sends it to the back of its new price (and it may trade at once). DAY and GTD
orders expire when time reaches their expiry, checked before each command.
"""

from __future__ import annotations

import bisect
import heapq
from collections import deque
from collections.abc import Mapping
from enum import StrEnum

import msgspec

from quoteflow.exchange.commands import Amend, Cancel, Command, Submit
from quoteflow.exchange.instruments import ExchangeInstrument
from quoteflow.exchange.orders import AcceptedOrder, OrderType, Side, TimeInForce

__all__ = ["Engine", "Execution", "OrderStatus", "OrderUpdate", "RestingOrder"]


class OrderStatus(StrEnum):
    """Where an order stands after an update; the last four are terminal."""

    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    REPLACED = "replaced"
    FILLED = "filled"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    REJECTED = "rejected"


Level = tuple[int, int]
"""A price level: (price in ticks, open quantity)."""

TERMINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.EXPIRED,
                      OrderStatus.REJECTED})  # fmt: skip


class OrderUpdate(msgspec.Struct, frozen=True, gc=False):
    """An order's new state: status, filled and open quantity, price, and why."""

    order_id: int
    client_order_id: str
    trader: str
    symbol: str
    status: OrderStatus
    filled: int
    open: int
    price: int | None
    reason: str | None
    ts: int


class Execution(msgspec.Struct, frozen=True, gc=False):
    """A trade between two orders, at the resting order's price."""

    execution_id: int
    symbol: str
    price: int
    quantity: int
    aggressor: Side
    buy_order_id: int
    sell_order_id: int
    buy_trader: str
    sell_trader: str
    ts: int


class RestingOrder:
    """An order in the book (mutable while it rests; ``live`` False once it left)."""

    __slots__ = ("expire_ns", "filled", "live", "open", "order", "order_id", "price", "quantity")

    def __init__(self, order_id: int, order: AcceptedOrder, price: int) -> None:
        self.order_id = order_id
        self.order = order
        self.price = price
        self.quantity = order.quantity
        self.filled = 0
        self.open = order.quantity
        self.expire_ns = order.expire_ns
        self.live = True

    def requeued(self, quantity: int, price: int) -> RestingOrder:
        """Return this order as a new arrival at ``price`` for ``quantity`` in total."""
        self.live = False
        again = RestingOrder(self.order_id, self.order, price)
        again.quantity, again.filled, again.open = quantity, self.filled, quantity - self.filled
        return again


class _Side:
    """One side of a book: price levels (FIFO queues) and their prices, best first.

    Orders leave a level lazily: a cancelled order is marked dead and skipped
    when it reaches the front; ``counts`` holds each level's live orders, and a
    level with none left is dropped at once.
    """

    __slots__ = ("counts", "levels", "prices", "sign")

    def __init__(self, sign: int) -> None:
        self.sign = sign  # -1 for bids (highest first), +1 for asks (lowest first)
        self.levels: dict[int, deque[RestingOrder]] = {}
        self.counts: dict[int, int] = {}
        self.prices: list[int] = []  # sign * price, ascending

    def add(self, order: RestingOrder) -> None:
        level = self.levels.get(order.price)
        if level is None:
            level = self.levels[order.price] = deque()
            self.counts[order.price] = 0
            bisect.insort(self.prices, self.sign * order.price)
        level.append(order)
        self.counts[order.price] += 1

    def remove(self, order: RestingOrder) -> None:
        order.live = False
        self.counts[order.price] -= 1
        if not self.counts[order.price]:
            self.drop(order.price)

    def drop(self, price: int) -> None:
        del self.levels[price]
        del self.counts[price]
        self.prices.pop(bisect.bisect_left(self.prices, self.sign * price))

    def front(self, price: int) -> RestingOrder:
        """Return the oldest live order at ``price`` (which has one)."""
        level = self.levels[price]
        while not level[0].live:
            level.popleft()
        return level[0]

    def live(self, price: int) -> list[RestingOrder]:
        """Return the live orders at ``price``, oldest first."""
        return [r for r in self.levels[price] if r.live]

    def crosses(self, limit: int, price: int) -> bool:
        """Whether an incoming order limited at ``limit`` may trade at ``price`` on this side."""
        return price <= limit if self.sign > 0 else price >= limit


class _Book:
    __slots__ = ("asks", "bids", "instrument", "last", "limits")

    def __init__(self, instrument: ExchangeInstrument) -> None:
        self.instrument = instrument
        self.bids = _Side(-1)
        self.asks = _Side(+1)
        self.last = instrument.ticks(instrument.reference_price)
        self.limits = instrument.band(self.last)

    def trade_at(self, price: int) -> None:
        """Record the last trade price: the band follows it."""
        if price != self.last:
            self.last = price
            self.limits = self.instrument.band(price)

    def side_of(self, order: AcceptedOrder) -> _Side:
        return self.bids if order.side is Side.BUY else self.asks


class Engine:
    """Books of several symbols, matched by price-time priority."""

    def __init__(self, instruments: Mapping[str, ExchangeInstrument]) -> None:
        self.instruments = dict(instruments)
        self.books = {symbol: _Book(i) for symbol, i in self.instruments.items()}
        self.orders: dict[int, RestingOrder] = {}
        self._expiries: list[tuple[int, int]] = []  # (expire_ns, order_id), a heap
        self.next_order_id = 1
        self.next_execution_id = 1

    # the commands ----------------------------------------------------------------

    def submit(self, order: AcceptedOrder) -> list[OrderUpdate | Execution]:
        """Accept ``order``: give it the next id, match it, rest what may rest."""
        now = order.received_ns
        out = self.expire(now)
        order_id = self.next_order_id
        self.next_order_id += 1
        book = self.books[order.symbol]
        low, high = book.limits
        limit = order.price if order.price is not None else (
            high if order.side is Side.BUY else low)  # fmt: skip
        resting = RestingOrder(order_id, order, limit)
        out.append(self._update(resting, OrderStatus.NEW, now))
        if order.time_in_force is TimeInForce.FOK and self._available(book, resting) < resting.open:
            out.append(self._update(resting, OrderStatus.CANCELLED, now, "fok_not_fillable"))
            return out
        self._match(book, resting, now, out)
        if resting.open == 0:
            return out
        if order.type is OrderType.MARKET or order.time_in_force in (
            TimeInForce.IOC,
            TimeInForce.FOK,
        ):
            out.append(self._update(resting, OrderStatus.CANCELLED, now, "not_filled_at_once"))
            return out
        self._rest(book, resting)
        return out

    def cancel(self, order_id: int, trader: str, now: int) -> list[OrderUpdate | Execution]:
        """Cancel an open order of ``trader``; a rejected update if there is none."""
        out = self.expire(now)
        resting = self.orders.get(order_id)
        if resting is None or resting.order.trader != trader:
            out.append(self._unknown(order_id, trader, now))
            return out
        self._remove(resting)
        out.append(self._update(resting, OrderStatus.CANCELLED, now, "cancelled_by_trader"))
        return out

    def amend(self, order_id: int, trader: str, now: int, *, quantity: int | None = None,
              price: int | None = None) -> list[OrderUpdate | Execution]:  # fmt: skip
        """Change an open order's total quantity and/or limit price.

        A quantity at or below what is filled cancels it; a smaller quantity at the
        same price keeps its place; anything else moves it to the back, where it
        may trade at once. Amends are validated by the caller (lot, tick, band).
        """
        out = self.expire(now)
        resting = self.orders.get(order_id)
        if resting is None or resting.order.trader != trader:
            out.append(self._unknown(order_id, trader, now))
            return out
        new_quantity = resting.quantity if quantity is None else quantity
        new_price = resting.price if price is None else price
        if new_quantity <= resting.filled:
            self._remove(resting)
            out.append(self._update(resting, OrderStatus.CANCELLED, now, "amended_to_zero"))
            return out
        if new_price == resting.price and new_quantity <= resting.quantity:
            resting.open -= resting.quantity - new_quantity
            resting.quantity = new_quantity
            out.append(self._update(resting, OrderStatus.REPLACED, now))
            return out
        book = self.books[resting.order.symbol]
        self._remove(resting)
        resting = resting.requeued(new_quantity, new_price)
        out.append(self._update(resting, OrderStatus.REPLACED, now))
        self._match(book, resting, now, out)
        if resting.open:
            self._rest(book, resting)
        return out

    def expire(self, now: int) -> list[OrderUpdate | Execution]:
        """Expire the DAY and GTD orders whose time has come, oldest order first."""
        out: list[OrderUpdate | Execution] = []
        expiries = self._expiries
        while expiries and expiries[0][0] <= now:
            _, order_id = heapq.heappop(expiries)
            resting = self.orders.get(order_id)
            if resting is not None:  # not filled, cancelled or re-queued meanwhile
                self._remove(resting)
                out.append(self._update(resting, OrderStatus.EXPIRED, now))
        return out

    def apply(self, command: Command) -> list[OrderUpdate | Execution]:
        """Carry out one logged command (see :mod:`quoteflow.exchange.commands`)."""
        if isinstance(command, Submit):
            return self.submit(command.order)
        if isinstance(command, Cancel):
            return self.cancel(command.order_id, command.trader, command.ts)
        if isinstance(command, Amend):
            return self.amend(command.order_id, command.trader, command.ts,
                              quantity=command.quantity, price=command.price)  # fmt: skip
        return self.expire(command.ts)

    # views -----------------------------------------------------------------------

    def next_expiry(self) -> int | None:
        """Return the earliest expiry time among resting orders (or a stale one), if any."""
        return self._expiries[0][0] if self._expiries else None

    def depth(
        self, symbol: str, levels: int
    ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Return the best ``levels`` (price, open quantity) of the bids and of the asks."""
        book = self.books[symbol]
        return tuple(  # type: ignore[return-value]
            [(side.sign * p, sum(r.open for r in side.live(side.sign * p)))
             for p in side.prices[:levels]]
            for side in (book.bids, book.asks)
        )  # fmt: skip

    # inside ----------------------------------------------------------------------

    def _available(self, book: _Book, incoming: RestingOrder) -> int:
        """Quantity other traders offer within the incoming order's limit."""
        side = book.asks if incoming.order.side is Side.BUY else book.bids
        trader = incoming.order.trader
        total = 0
        for key in side.prices:
            price = side.sign * key
            if not side.crosses(incoming.price, price):
                break
            total += sum(r.open for r in side.live(price) if r.order.trader != trader)
            if total >= incoming.open:
                break
        return total

    def _match(self, book: _Book, incoming: RestingOrder, now: int,
               out: list[OrderUpdate | Execution]) -> None:  # fmt: skip
        side = book.asks if incoming.order.side is Side.BUY else book.bids
        trader = incoming.order.trader
        while incoming.open and side.prices:
            price = side.sign * side.prices[0]
            if not side.crosses(incoming.price, price):
                return
            resting = side.front(price)
            if resting.order.trader == trader:  # self-trade prevention: the resting one goes
                self._remove(resting)
                out.append(self._update(resting, OrderStatus.CANCELLED, now, "self_trade"))
                continue
            quantity = min(incoming.open, resting.open)
            incoming.filled += quantity
            incoming.open -= quantity
            resting.filled += quantity
            resting.open -= quantity
            book.trade_at(price)
            out.append(self._execution(incoming, resting, price, quantity, now))
            if resting.open == 0:
                self._remove(resting)
                out.append(self._update(resting, OrderStatus.FILLED, now))
            else:
                out.append(self._update(resting, OrderStatus.PARTIALLY_FILLED, now))
            status = OrderStatus.FILLED if incoming.open == 0 else OrderStatus.PARTIALLY_FILLED
            out.append(self._update(incoming, status, now))

    def _execution(self, incoming: RestingOrder, resting: RestingOrder, price: int,
                   quantity: int, now: int) -> Execution:  # fmt: skip
        buy, sell = (incoming, resting) if incoming.order.side is Side.BUY else (resting, incoming)
        execution = Execution(self.next_execution_id, incoming.order.symbol, price, quantity,
                              incoming.order.side, buy.order_id, sell.order_id,
                              buy.order.trader, sell.order.trader, now)  # fmt: skip
        self.next_execution_id += 1
        return execution

    def _rest(self, book: _Book, resting: RestingOrder) -> None:
        book.side_of(resting.order).add(resting)
        self.orders[resting.order_id] = resting
        if resting.expire_ns is not None:
            heapq.heappush(self._expiries, (resting.expire_ns, resting.order_id))

    def _remove(self, resting: RestingOrder) -> None:
        self.books[resting.order.symbol].side_of(resting.order).remove(resting)
        del self.orders[resting.order_id]

    @staticmethod
    def _update(resting: RestingOrder, status: OrderStatus, now: int,
                reason: str | None = None) -> OrderUpdate:  # fmt: skip
        order = resting.order
        open_quantity = 0 if status in TERMINAL else resting.open
        price = resting.price if order.type is OrderType.LIMIT else None
        return OrderUpdate(resting.order_id, order.client_order_id, order.trader, order.symbol,
                           status, resting.filled, open_quantity, price, reason, now)  # fmt: skip

    @staticmethod
    def _unknown(order_id: int, trader: str, now: int) -> OrderUpdate:
        return OrderUpdate(order_id, "", trader, "", OrderStatus.REJECTED, 0, 0, None,
                           "unknown_order", now)  # fmt: skip
