"""The matching engine: price-time priority over integer ticks, deterministic.

One engine holds the books of the symbols of one ``orders`` partition and
applies commands in order, each with its sequence number from the command log:
:meth:`Engine.submit` (an accepted order; its sequence number becomes its order
id), :meth:`Engine.cancel`, :meth:`Engine.amend` and :meth:`Engine.expire`
(time passing). Each returns what happened, as :class:`OrderUpdate`,
:class:`Execution` and :class:`BookUpdate` records, in the order it happened;
the same commands always give the same records. Every record names the
sequence number of the command that caused it, and the update that answers a
command (the commanded order's state once the command is done) has ``ack``.

Rules: the best price first, then the oldest order at that price. An incoming
order trades at the resting order's price. Market orders take what the book
offers up to the edge of the price band (never beyond). IOC orders cancel what
does not trade at once; FOK orders trade entirely at once or not at all (with
no side effects). An incoming order never trades with its own trader's resting
orders: those are cancelled instead (self-trade prevention). Reducing an
order's quantity keeps its place; changing its price, or raising its quantity,
sends it to the back of its new price (and it may trade at once). DAY and GTD
orders expire when time reaches their expiry, checked before each command on
their book and by :class:`~quoteflow.exchange.commands.Expire` commands. A
limit price outside the band around the last trade is refused (``outside_band``):
order entry checks it first, but only the engine knows the last trade for sure.
Books are independent of each other (execution ids and expiries are per
symbol), so the records do not depend on how symbols are spread over partitions.
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

__all__ = [
    "Book",
    "BookUpdate",
    "Engine",
    "EngineRecord",
    "Execution",
    "Level",
    "OrderStatus",
    "OrderUpdate",
    "RestingOrder",
]


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
    """An order's new state: status, filled and open quantity, price, and why.

    ``sequence`` is the command that caused it; ``ack`` marks the update that
    answers that command. A ``rejected`` update of an order that is still open
    refuses an amendment and leaves the order as it was.
    """

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
    sequence: int
    ack: bool = False


class Execution(msgspec.Struct, frozen=True, gc=False):
    """A trade between two orders, at the resting order's price; ids count per symbol."""

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
    sequence: int


class BookUpdate(msgspec.Struct, frozen=True, gc=False):
    """What a command changed in a book: levels (L2 deltas) and the top of book after it.

    ``bids`` and ``asks`` list (price, open quantity) for each level that
    changed, quantity 0 for a level that is gone; ``best_bid`` and ``best_ask``
    are the top levels after the command (None: that side is empty).
    """

    symbol: str
    bids: list[Level]
    asks: list[Level]
    best_bid: Level | None
    best_ask: Level | None
    ts: int
    sequence: int


EngineRecord = OrderUpdate | Execution | BookUpdate


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
    level with none left is dropped at once. ``totals`` holds each level's open
    quantity; ``changed`` the prices whose total changed since it was last read.
    """

    __slots__ = ("changed", "counts", "levels", "prices", "sign", "totals")

    def __init__(self, sign: int) -> None:
        self.sign = sign  # -1 for bids (highest first), +1 for asks (lowest first)
        self.levels: dict[int, deque[RestingOrder]] = {}
        self.counts: dict[int, int] = {}
        self.totals: dict[int, int] = {}
        self.prices: list[int] = []  # sign * price, ascending
        self.changed: set[int] = set()

    def add(self, order: RestingOrder) -> None:
        price = order.price
        level = self.levels.get(price)
        if level is None:
            level = self.levels[price] = deque()
            self.counts[price] = 0
            self.totals[price] = 0
            bisect.insort(self.prices, self.sign * price)
        level.append(order)
        self.counts[price] += 1
        self.totals[price] += order.open
        self.changed.add(price)

    def take(self, order: RestingOrder, quantity: int) -> None:
        """Take ``quantity`` off a resting order's open quantity (a fill or a reduction)."""
        order.open -= quantity
        self.totals[order.price] -= quantity
        self.changed.add(order.price)

    def remove(self, order: RestingOrder) -> None:
        order.live = False
        price = order.price
        self.changed.add(price)
        self.counts[price] -= 1
        if not self.counts[price]:
            del self.levels[price]
            del self.counts[price]
            del self.totals[price]
            self.prices.pop(bisect.bisect_left(self.prices, self.sign * price))
        else:
            self.totals[price] -= order.open

    def front(self, price: int) -> RestingOrder:
        """Return the oldest live order at ``price`` (which has one)."""
        level = self.levels[price]
        while not level[0].live:
            level.popleft()
        return level[0]

    def live(self, price: int) -> list[RestingOrder]:
        """Return the live orders at ``price``, oldest first."""
        return [r for r in self.levels[price] if r.live]

    def best(self) -> Level | None:
        """Return the top level (price, open quantity), None when the side is empty."""
        if not self.prices:
            return None
        price = self.sign * self.prices[0]
        return price, self.totals[price]

    def deltas(self) -> list[Level]:
        """Return (price, open quantity) of each changed level, best first, and forget them."""
        changed = self.changed
        if not changed:
            return []
        totals = self.totals
        if len(changed) == 1:
            price = changed.pop()
            return [(price, totals.get(price, 0))]
        ordered = sorted(changed, reverse=self.sign < 0)
        changed.clear()
        return [(price, totals.get(price, 0)) for price in ordered]

    def crosses(self, limit: int, price: int) -> bool:
        """Whether an incoming order limited at ``limit`` may trade at ``price`` on this side."""
        return price <= limit if self.sign > 0 else price >= limit


class Book:
    """The bids and asks of one symbol, its last trade price and price band, its counters."""

    __slots__ = ("asks", "bids", "executions", "expiries", "instrument", "last", "limits",
                 "symbol")  # fmt: skip

    def __init__(self, instrument: ExchangeInstrument) -> None:
        self.instrument = instrument
        self.symbol = instrument.symbol
        self.bids = _Side(-1)
        self.asks = _Side(+1)
        self.last = instrument.ticks(instrument.reference_price)
        self.limits = instrument.band(self.last)
        self.executions = 0
        self.expiries: list[tuple[int, int]] = []  # (expire_ns, order_id), a heap

    def trade_at(self, price: int) -> None:
        """Record the last trade price: the band follows it."""
        if price != self.last:
            self.last = price
            self.limits = self.instrument.band(price)

    def side_of(self, order: AcceptedOrder) -> _Side:
        """Return the side ``order`` rests on."""
        return self.bids if order.side is Side.BUY else self.asks

    def changes(self, sequence: int, now: int) -> BookUpdate | None:
        """Return what changed since the last call, None if nothing did."""
        if not self.bids.changed and not self.asks.changed:
            return None
        return BookUpdate(self.symbol, self.bids.deltas(), self.asks.deltas(),
                          self.bids.best(), self.asks.best(), now, sequence)  # fmt: skip


class _RestingState(msgspec.Struct, array_like=True, gc=False):
    order_id: int
    order: AcceptedOrder
    price: int
    quantity: int
    filled: int


class _BookState(msgspec.Struct, array_like=True, gc=False):
    last: int
    executions: int
    resting: list[_RestingState]  # bids then asks, each best price first, then by arrival


class _EngineState(msgspec.Struct, gc=False):
    last_sequence: int
    books: dict[str, _BookState]


class Engine:
    """Books of several symbols, matched by price-time priority.

    :meth:`snapshot` and :meth:`restore` carry an engine's whole state as bytes
    (a partition moving to another process); a restored engine gives the same
    records as the original for the same commands.
    """

    def __init__(self, instruments: Mapping[str, ExchangeInstrument]) -> None:
        self.instruments = dict(instruments)
        self.books = {symbol: Book(i) for symbol, i in self.instruments.items()}
        self.orders: dict[int, RestingOrder] = {}
        self._sequence = 0  # of the command being applied
        self.last_sequence = 0
        """The sequence number of the last command applied."""

    def snapshot(self) -> bytes:
        """Return the engine's state as bytes: books in priority order, counters, last sequence."""
        books = {}
        for symbol, book in self.books.items():
            resting = [_RestingState(r.order_id, r.order, r.price, r.quantity, r.filled)
                       for side in (book.bids, book.asks) for key in side.prices
                       for r in side.live(side.sign * key)]  # fmt: skip
            books[symbol] = _BookState(book.last, book.executions, resting)
        return msgspec.msgpack.encode(_EngineState(self.last_sequence, books))

    @classmethod
    def restore(cls, instruments: Mapping[str, ExchangeInstrument], data: bytes) -> Engine:
        """Return an engine in the state of a :meth:`snapshot`."""
        state = msgspec.msgpack.decode(data, type=_EngineState)
        engine = cls(instruments)
        engine.last_sequence = state.last_sequence
        for symbol, saved in state.books.items():
            book = engine.books[symbol]
            book.trade_at(saved.last)
            book.executions = saved.executions
            for kept in saved.resting:
                resting = RestingOrder(kept.order_id, kept.order, kept.price)
                resting.quantity, resting.filled = kept.quantity, kept.filled
                resting.open = kept.quantity - kept.filled
                engine._rest(book, resting)
            book.bids.changed.clear()
            book.asks.changed.clear()
        return engine

    # the commands ----------------------------------------------------------------

    def submit(self, sequence: int, order: AcceptedOrder) -> list[EngineRecord]:
        """Accept ``order`` as order ``sequence``: match it, rest what may rest."""
        now = order.received_ns
        book = self.books[order.symbol]
        out = self._begin(sequence, book, now)
        low, high = book.limits
        limit = order.price if order.price is not None else (
            high if order.side is Side.BUY else low)  # fmt: skip
        resting = RestingOrder(sequence, order, limit)
        if not low <= limit <= high:
            out.append(self._update(resting, OrderStatus.REJECTED, now, "outside_band"))
        else:
            self._submit(book, resting, now, out)
        return self._end(book, out, now, sequence)

    def _submit(self, book: Book, resting: RestingOrder, now: int,
                out: list[EngineRecord]) -> None:  # fmt: skip
        order = resting.order
        out.append(self._update(resting, OrderStatus.NEW, now))
        if order.time_in_force is TimeInForce.FOK and self._available(book, resting) < resting.open:
            out.append(self._update(resting, OrderStatus.CANCELLED, now, "fok_not_fillable"))
            return
        self._match(book, resting, now, out)
        if resting.open == 0:
            return
        if order.type is OrderType.MARKET or order.time_in_force in (
            TimeInForce.IOC,
            TimeInForce.FOK,
        ):
            out.append(self._update(resting, OrderStatus.CANCELLED, now, "not_filled_at_once"))
            return
        self._rest(book, resting)

    def cancel(self, sequence: int, symbol: str, order_id: int, trader: str,
               now: int) -> list[EngineRecord]:  # fmt: skip
        """Cancel an open order of ``trader``; a rejected update if there is none."""
        book, out, resting = self._begin_on(sequence, symbol, order_id, trader, now)
        if resting is not None:
            self._remove(resting)
            out.append(self._update(resting, OrderStatus.CANCELLED, now, "cancelled_by_trader"))
        return self._end(book, out, now, order_id)

    def amend(
        self,
        sequence: int,
        symbol: str,
        order_id: int,
        trader: str,
        now: int,
        *,
        quantity: int | None = None,
        price: int | None = None,
    ) -> list[EngineRecord]:
        """Change an open order's total quantity and/or limit price.

        A quantity at or below what is filled cancels it; a smaller quantity at the
        same price keeps its place; anything else moves it to the back, where it
        may trade at once. A price outside the band is refused and changes nothing.
        """
        book, out, resting = self._begin_on(sequence, symbol, order_id, trader, now)
        if resting is not None:
            self._amend(book, resting, now, quantity, price, out)
        return self._end(book, out, now, order_id)

    def _amend(self, book: Book, resting: RestingOrder, now: int, quantity: int | None,
               price: int | None, out: list[EngineRecord]) -> None:  # fmt: skip
        new_quantity = resting.quantity if quantity is None else quantity
        new_price = resting.price if price is None else price
        low, high = book.limits
        if price is not None and not low <= price <= high:
            status = OrderStatus.PARTIALLY_FILLED if resting.filled else OrderStatus.NEW
            refused = self._update(resting, status, now, "outside_band")
            out.append(msgspec.structs.replace(refused, status=OrderStatus.REJECTED))
        elif new_quantity <= resting.filled:
            self._remove(resting)
            out.append(self._update(resting, OrderStatus.CANCELLED, now, "amended_to_zero"))
        elif new_price == resting.price and new_quantity <= resting.quantity:
            book.side_of(resting.order).take(resting, resting.quantity - new_quantity)
            resting.quantity = new_quantity
            out.append(self._update(resting, OrderStatus.REPLACED, now))
        else:
            self._remove(resting)
            resting = resting.requeued(new_quantity, new_price)
            out.append(self._update(resting, OrderStatus.REPLACED, now))
            self._match(book, resting, now, out)
            if resting.open:
                self._rest(book, resting)

    def expire(self, sequence: int, symbol: str, now: int) -> list[EngineRecord]:
        """Expire the DAY and GTD orders of ``symbol`` whose time has come, earliest first."""
        book = self.books[symbol]
        return self._end(book, self._begin(sequence, book, now), now, None)

    def apply(self, sequence: int, command: Command) -> list[EngineRecord]:
        """Carry out command ``sequence`` of the log (see :mod:`quoteflow.exchange.commands`)."""
        if isinstance(command, Submit):
            return self.submit(sequence, command.order)
        if isinstance(command, Cancel):
            return self.cancel(sequence, command.symbol, command.order_id, command.trader,
                               command.ts)  # fmt: skip
        if isinstance(command, Amend):
            return self.amend(sequence, command.symbol, command.order_id, command.trader,
                              command.ts, quantity=command.quantity,
                              price=command.price)  # fmt: skip
        return self.expire(sequence, command.symbol, command.ts)

    # views -----------------------------------------------------------------------

    def next_expiry(self, symbol: str) -> int | None:
        """Return the earliest expiry time among ``symbol``'s resting orders (or a stale one)."""
        expiries = self.books[symbol].expiries
        return expiries[0][0] if expiries else None

    def depth(self, symbol: str, levels: int) -> tuple[list[Level], list[Level]]:
        """Return the best ``levels`` (price, open quantity) of the bids and of the asks."""
        book = self.books[symbol]
        return tuple(  # type: ignore[return-value]
            [(side.sign * p, side.totals[side.sign * p]) for p in side.prices[:levels]]
            for side in (book.bids, book.asks)
        )

    # inside ----------------------------------------------------------------------

    def _begin_on(self, sequence: int, symbol: str, order_id: int, trader: str,
                  now: int) -> tuple[Book, list[EngineRecord], RestingOrder | None]:  # fmt: skip
        """Start a command on ``trader``'s open order ``order_id`` of ``symbol``.

        Returns the book, the records so far and the order; None (and a rejected
        ``unknown_order`` update in the records) when there is no such open order.
        """
        book = self.books[symbol]
        out = self._begin(sequence, book, now)
        resting = self.orders.get(order_id)
        if resting is None or resting.order.trader != trader or resting.order.symbol != symbol:
            out.append(self._unknown(order_id, trader, symbol, now))
            return book, out, None
        return book, out, resting

    def _begin(self, sequence: int, book: Book, now: int) -> list[EngineRecord]:
        """Start command ``sequence`` on ``book``: expire its orders due by ``now``."""
        self._sequence = sequence
        out: list[EngineRecord] = []
        expiries = book.expiries
        while expiries and expiries[0][0] <= now:
            _, order_id = heapq.heappop(expiries)
            resting = self.orders.get(order_id)
            if resting is not None:  # not filled, cancelled or re-queued meanwhile
                self._remove(resting)
                out.append(self._update(resting, OrderStatus.EXPIRED, now))
        return out

    def _end(self, book: Book, out: list[EngineRecord], now: int,
             order_id: int | None) -> list[EngineRecord]:  # fmt: skip
        """Finish the command: mark the answer to it (order ``order_id``), add book changes."""
        self.last_sequence = self._sequence
        if order_id is not None:
            for index in range(len(out) - 1, -1, -1):
                record = out[index]
                if type(record) is OrderUpdate and record.order_id == order_id:
                    out[index] = msgspec.structs.replace(record, ack=True)
                    break
        changes = book.changes(self._sequence, now)
        if changes is not None:
            out.append(changes)
        return out

    def _available(self, book: Book, incoming: RestingOrder) -> int:
        """Quantity other traders offer within the incoming order's limit."""
        side = book.asks if incoming.order.side is Side.BUY else book.bids
        trader = incoming.order.trader
        total = 0
        for key in side.prices:
            price = side.sign * key
            if not side.crosses(incoming.price, price):
                break
            total += side.totals[price] - sum(r.open for r in side.live(price)
                                              if r.order.trader == trader)  # fmt: skip
            if total >= incoming.open:
                break
        return total

    def _match(self, book: Book, incoming: RestingOrder, now: int,
               out: list[EngineRecord]) -> None:  # fmt: skip
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
            side.take(resting, quantity)
            book.trade_at(price)
            out.append(self._execution(book, incoming, resting, price, quantity, now))
            if resting.open == 0:
                self._remove(resting)
                out.append(self._update(resting, OrderStatus.FILLED, now))
            else:
                out.append(self._update(resting, OrderStatus.PARTIALLY_FILLED, now))
            status = OrderStatus.FILLED if incoming.open == 0 else OrderStatus.PARTIALLY_FILLED
            out.append(self._update(incoming, status, now))

    def _execution(self, book: Book, incoming: RestingOrder, resting: RestingOrder, price: int,
                   quantity: int, now: int) -> Execution:  # fmt: skip
        buy, sell = (incoming, resting) if incoming.order.side is Side.BUY else (resting, incoming)
        book.executions += 1
        return Execution(book.executions, book.symbol, price, quantity, incoming.order.side,
                         buy.order_id, sell.order_id, buy.order.trader, sell.order.trader, now,
                         self._sequence)  # fmt: skip

    def _rest(self, book: Book, resting: RestingOrder) -> None:
        book.side_of(resting.order).add(resting)
        self.orders[resting.order_id] = resting
        if resting.expire_ns is not None:
            heapq.heappush(book.expiries, (resting.expire_ns, resting.order_id))

    def _remove(self, resting: RestingOrder) -> None:
        self.books[resting.order.symbol].side_of(resting.order).remove(resting)
        del self.orders[resting.order_id]

    def _update(self, resting: RestingOrder, status: OrderStatus, now: int,
                reason: str | None = None) -> OrderUpdate:  # fmt: skip
        order = resting.order
        open_quantity = 0 if status in TERMINAL else resting.open
        price = resting.price if order.type is OrderType.LIMIT else None
        return OrderUpdate(resting.order_id, order.client_order_id, order.trader, order.symbol,
                           status, resting.filled, open_quantity, price, reason, now,
                           self._sequence)  # fmt: skip

    def _unknown(self, order_id: int, trader: str, symbol: str, now: int) -> OrderUpdate:
        return OrderUpdate(order_id, "", trader, symbol, OrderStatus.REJECTED, 0, 0, None,
                           "unknown_order", now, self._sequence)  # fmt: skip
