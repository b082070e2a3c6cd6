"""The exchange behind its API: validate, log durably, match, and remember the outcome.

:class:`Exchange` is what the order entry endpoints call. A request is
validated (against the band around the last trade), committed to the
:class:`~quoteflow.exchange.store.CommandStore`, then applied to the engine;
the order's state after that is the acknowledgement. On start the store is
replayed, so after a crash the books, the orders and every number are as they
were. Each trader sees only their own orders.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from decimal import Decimal

from quoteflow.exchange.commands import Amend, Cancel, Command, Expire, Submit
from quoteflow.exchange.engine import Engine, Execution, OrderUpdate
from quoteflow.exchange.instruments import ExchangeInstrument
from quoteflow.exchange.orders import (
    MAX_QUANTITY,
    AcceptedOrder,
    OrderRejectedError,
    OrderRequest,
    RejectReason,
    TimeInForce,
    default_time_in_force,
    validate,
)
from quoteflow.exchange.store import CommandStore
from quoteflow.timestamps import datetime_ns

__all__ = ["Exchange", "UnknownOrderError"]

_RECENT_TRADES = 1_000


class UnknownOrderError(LookupError):
    """No such order, or not the trader's own."""


def _same(request: OrderRequest, order: AcceptedOrder, instrument: ExchangeInstrument) -> bool:
    """Return whether ``request`` asks for what ``order`` (accepted earlier) is."""
    tif = request.time_in_force or default_time_in_force(request.type)
    try:
        price = None if request.price is None else instrument.ticks(request.price)
    except ValueError:
        return False
    expiry = None if request.expire_at is None else datetime_ns(request.expire_at)
    return (request.symbol, request.side, request.type, request.quantity, price, tif) == (
        order.symbol,
        order.side,
        order.type,
        order.quantity,
        order.price,
        order.time_in_force,
    ) and (tif is not TimeInForce.GTD or expiry == order.expire_ns)


class Exchange:
    """Instruments, the command store and the engine, with each order's latest state."""

    def __init__(
        self,
        instruments: Mapping[str, ExchangeInstrument],
        store: CommandStore,
        *,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.instruments = dict(instruments)
        self.store = store
        self.engine = Engine(self.instruments)
        self.clock = clock
        self.orders: dict[int, OrderUpdate] = {}
        self.trades: dict[str, deque[Execution]] = {
            symbol: deque(maxlen=_RECENT_TRADES) for symbol in self.instruments
        }
        self._by_client_id: dict[tuple[str, str], int] = {}
        self._submitted: dict[int, AcceptedOrder] = {}
        for _, command in store.commands():
            self._apply(command)

    def _apply(self, command: Command) -> list[OrderUpdate | Execution]:
        if isinstance(command, Submit):
            self._submitted[self.engine.next_order_id] = command.order
        records = self.engine.apply(command)
        for record in records:
            if isinstance(record, Execution):
                self.trades[record.symbol].append(record)
            elif record.client_order_id:  # not the refusal of an unknown order
                self.orders[record.order_id] = record
                self._by_client_id.setdefault((record.trader, record.client_order_id),
                                              record.order_id)  # fmt: skip
        return records

    def place(self, request: OrderRequest, trader: str) -> OrderUpdate:
        """Accept ``request`` for ``trader``; return the order's state once matched.

        A retry (the same client order id and content) returns the order's
        current state and changes nothing; the same id with other content is
        refused (``duplicate_client_order_id``). Raises OrderRejectedError.
        """
        earlier = self._by_client_id.get((trader, request.client_order_id))
        if earlier is not None:
            instrument = self.instruments.get(request.symbol)
            if instrument is None or not _same(request, self._submitted[earlier], instrument):
                raise OrderRejectedError(
                    RejectReason.DUPLICATE_CLIENT_ORDER_ID,
                    f"client_order_id {request.client_order_id!r} was used for another order",
                )
            return self.orders[earlier]
        book = self.engine.books.get(request.symbol)
        accepted = validate(request, trader, self.instruments, now_ns=self.clock(),
                            reference_ticks=book.last if book else None)  # fmt: skip
        command = Submit(accepted)
        self.store.append(command)
        self._apply(command)
        return self.orders[self._by_client_id[(trader, request.client_order_id)]]

    def _own(self, order_id: int, trader: str) -> OrderUpdate:
        state = self.orders.get(order_id)
        if state is None or state.trader != trader:
            raise UnknownOrderError(f"no order {order_id} of yours")
        return state

    def order(self, order_id: int, trader: str) -> OrderUpdate:
        """Return the latest state of ``trader``'s order ``order_id``."""
        return self._own(order_id, trader)

    def cancel(self, order_id: int, trader: str) -> OrderUpdate:
        """Cancel an open order; return its state (unchanged if it had already ended)."""
        self._own(order_id, trader)
        if order_id in self.engine.orders:
            command = Cancel(order_id, trader, self.clock())
            self.store.append(command)
            self._apply(command)
        return self.orders[order_id]

    def amend(self, order_id: int, trader: str, *, quantity: int | None = None,
              price: Decimal | None = None) -> OrderUpdate:  # fmt: skip
        """Change an open order's total quantity and/or price, validated as a new order's.

        Raises OrderRejectedError for a quantity off the lot or a price off the
        grid or outside the band; UnknownOrderError for an order not open.
        """
        state = self._own(order_id, trader)
        if order_id not in self.engine.orders:
            raise UnknownOrderError(f"order {order_id} is {state.status}, it cannot change")
        instrument = self.instruments[state.symbol]
        if quantity is not None and not 0 <= quantity <= MAX_QUANTITY:
            raise OrderRejectedError(RejectReason.BAD_QUANTITY, f"quantity must be 0 (cancel) "
                                     f"to {MAX_QUANTITY:,}, got {quantity}")  # fmt: skip
        if quantity is not None and quantity % instrument.lot_size:
            raise OrderRejectedError(RejectReason.LOT_SIZE, f"quantity {quantity} is not a "
                                     f"multiple of the lot size {instrument.lot_size}")  # fmt: skip
        ticks = None
        if price is not None:
            try:
                ticks = instrument.ticks(price)
            except ValueError as error:
                raise OrderRejectedError(RejectReason.OFF_TICK, str(error)) from None
            low, high = self.engine.books[state.symbol].limits
            if not low <= ticks <= high:
                raise OrderRejectedError(RejectReason.OUTSIDE_BAND, f"price {price} is outside "
                                         f"the band {instrument.price(low)} to "
                                         f"{instrument.price(high)}")  # fmt: skip
        command = Amend(order_id, trader, self.clock(), quantity=quantity, price=ticks)
        self.store.append(command)
        self._apply(command)
        return self.orders[order_id]

    def expire_due(self) -> list[OrderUpdate]:
        """Expire the orders whose time has come (a timer calls this); return their states."""
        command = Expire(self.clock())
        due = self.engine.next_expiry()
        if due is None or due > command.ts:
            return []
        self.store.append(command)
        return [r for r in self._apply(command) if isinstance(r, OrderUpdate)]
