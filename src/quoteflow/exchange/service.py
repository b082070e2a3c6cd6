"""The exchange behind its API: validate, log durably, match, publish, remember the outcome.

:class:`Exchange` is what the order entry endpoints call. A request is
validated (against the band around the last trade), committed to the
:class:`~quoteflow.exchange.store.CommandStore` (which gives it its sequence
number) and applied to the exchange's own copy of the engine: the order's
state after that is the acknowledgement, and each trader's WebSocket watches
get their events at once. The sequenced command goes to the ``orders`` topic
(:meth:`Exchange.publish_to`), where the matching stage
(:mod:`quoteflow.exchange.matcher`), one engine per partition, makes the
published records. The engine is deterministic, so both copies make the same
records: the stage's are the ones published, this copy's answer the trader
without waiting for the bus.

On start the store is replayed, so after a crash the books, the orders and
every number are as they were; the log then goes to the bus again from where
the bus may have lost it (the whole log on the embedded bus, which does not
outlive the process), and the stage skips what it has already applied. Each
trader sees only their own orders.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from itertools import islice

from quoteflow.bus.base import Bus, send_in_order
from quoteflow.events.exchange import (
    TERMINAL,
    AcceptedOrder,
    Amend,
    Cancel,
    Command,
    EngineRecord,
    Execution,
    Expire,
    Level,
    OrderStatus,
    OrderUpdate,
    Sequenced,
    Submit,
    TimeInForce,
    symbol_of,
)
from quoteflow.exchange.durability import GroupCommit
from quoteflow.exchange.engine import Engine
from quoteflow.exchange.errors import (
    OrderRejectedError,
    RejectReason,
    UnknownOrderError,
)
from quoteflow.exchange.instruments import ExchangeInstrument
from quoteflow.exchange.matcher import ORDERS_TOPIC
from quoteflow.exchange.orders import (
    MAX_QUANTITY,
    OrderRequest,
    default_time_in_force,
    price_ticks,
    validate,
)
from quoteflow.exchange.store import CommandStore
from quoteflow.exchange.watchers import Watchers
from quoteflow.timestamps import datetime_ns

__all__ = ["Exchange"]

_RECENT_TRADES = 1_000
_REPLAY_CHUNK = 10_000  # logged commands matched at once when the log is replayed


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


def _changes_state(update: OrderUpdate, orders: Mapping[int, OrderUpdate]) -> bool:
    """Whether ``update`` is the order's new state: not a refused amendment of an open order."""
    if update.status is not OrderStatus.REJECTED:
        return True
    earlier = orders.get(update.order_id)
    return earlier is None or earlier.status in TERMINAL


def _answer(records: list[EngineRecord]) -> OrderUpdate:
    """Return the update that answers a command; OrderRejectedError if the engine refused it."""
    answer = next(r for r in reversed(records) if type(r) is OrderUpdate and r.ack)
    if answer.status is OrderStatus.REJECTED and answer.reason == "unknown_order":
        raise UnknownOrderError(f"order {answer.order_id} is no longer open")
    if answer.status is OrderStatus.REJECTED:
        raise OrderRejectedError(RejectReason(answer.reason), f"the engine refused it: "
                                 f"{answer.reason} (the band follows the last trade)")  # fmt: skip
    return answer


class Exchange:
    """Instruments, the command store and a copy of the engine, with each order's latest state."""

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
        self.watchers = Watchers()
        self.outbox: deque[tuple[str, str, Sequenced]] = deque()
        self.published: Counter[str] = Counter()
        """Records sent to the bus, per topic."""
        self._outbox_filled = asyncio.Event()
        self._by_client_id: dict[tuple[str, str], int] = {}
        self._submitted: dict[int, AcceptedOrder] = {}
        recorded = store.executions_through()
        logged = store.commands()
        while chunk := list(islice(logged, _REPLAY_CHUNK)):
            records = self._apply_all(chunk)
            store.record_executions(
                r for r in records if type(r) is Execution and r.sequence > recorded
            )
        self._replayed = self.engine.last_sequence
        self.group_commit: GroupCommit[tuple[Sequenced, list[EngineRecord]]] | None = None
        """With a store that must reach the disk: holds answers until a flush covers them."""
        if store.fsync:
            store.sync()  # what the replay found is on disk before anything new is answered
            self.group_commit = GroupCommit(store.sync, self._hand_on)
            self.group_commit.durable = self._replayed

    def depth(self, symbol: str, levels: int) -> tuple[list[Level], list[Level]]:
        """Return the best ``levels`` (price, open quantity) of the bids and of the asks."""
        return self.engine.depth(symbol, levels)

    def execution_count(self) -> int:
        """Return how many executions there have been, over all symbols."""
        return sum(self.engine.executions(symbol) for symbol in self.instruments)

    def is_open(self, order_id: int) -> bool:
        """Return whether order ``order_id`` rests in the book."""
        return self.engine.is_open(order_id)

    def _apply_all(self, logged: list[tuple[int, Command]]) -> list[EngineRecord]:
        """Apply logged (sequence, command) pairs; keep the views; return their records."""
        for sequence, command in logged:
            if isinstance(command, Submit):
                order = command.order
                self._submitted[sequence] = order
                self._by_client_id[(order.trader, order.client_order_id)] = sequence
        records = self.engine.apply_all(logged)
        orders = self.orders
        for record in records:
            if type(record) is OrderUpdate:
                if record.client_order_id and _changes_state(record, orders):
                    orders[record.order_id] = record
            elif type(record) is Execution:
                self.trades[record.instrument].append(record)
        return records

    def _run(self, command: Command) -> list[EngineRecord]:
        """Log ``command``, apply it, hand its records on; return them."""
        if self.group_commit is not None and self.group_commit.failed is not None:
            raise self.group_commit.failed
        sequence = self.store.append(command)
        records = self._apply_all([(sequence, command)])
        executions = [r for r in records if type(r) is Execution]
        if executions:
            self.store.record_executions(executions)
        if self.group_commit is not None:
            self.group_commit.hold(sequence, (Sequenced(sequence, command), records))
        else:
            self._hand_on((Sequenced(sequence, command), records))
        return records

    def _hand_on(self, logged: tuple[Sequenced, list[EngineRecord]]) -> None:
        """Send a logged command to the ``orders`` topic and its records to the watches."""
        command, records = logged
        self.outbox.append((ORDERS_TOPIC, symbol_of(command.command), command))
        self._outbox_filled.set()
        self.watchers.publish(records)

    async def durable(self, update: OrderUpdate) -> OrderUpdate:
        """Return ``update`` once the command it answers is on disk (at once without fsync).

        Raises LogWriteError when the log cannot be written.
        """
        if self.group_commit is not None:
            await self.group_commit.until_durable(update.sequence)
        return update

    async def publish_to(self, bus: Bus, *, chunk: int = 10_000) -> None:
        """Send the log to ``bus``'s ``orders`` topic, then each new command, until cancelled.

        A durable bus gets what it may have missed (after the last command it
        confirmed); the embedded bus, the whole log. With a durable bus, the
        commands it confirms are noted in the store as published.
        """
        flush = getattr(bus, "flush", None) if bus.durable else None
        start = self.store.published_through() if flush is not None else 0
        pending: list[tuple[str, str, Sequenced]] = []
        for sequence, command in self.store.commands(after=start):
            if sequence > self._replayed:
                break
            pending.append((ORDERS_TOPIC, symbol_of(command), Sequenced(sequence, command)))
            if len(pending) >= chunk:
                await self._send(bus, pending, flush)
                pending = []
        await self._send(bus, pending, flush)
        while True:
            await self._outbox_filled.wait()
            self._outbox_filled.clear()
            batch = list(self.outbox)
            self.outbox.clear()
            await self._send(bus, batch, flush)

    async def _send(self, bus: Bus, batch: list[tuple[str, str, Sequenced]],
                    flush: Callable[[], Awaitable[None]] | None) -> None:  # fmt: skip
        if not batch:
            return
        self.published.update(await send_in_order(bus, batch))
        if flush is not None:
            await flush()
            self.store.mark_published(batch[-1][2].sequence)

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
        known = request.symbol in self.instruments
        reference = self.engine.last_price(request.symbol) if known else None
        accepted = validate(request, trader, self.instruments, now_ns=self.clock(),
                            reference_ticks=reference)  # fmt: skip
        return _answer(self._run(Submit(accepted)))

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
        state = self._own(order_id, trader)
        self._expire_due(state.instrument)
        if self.is_open(order_id):
            self._run(Cancel(state.instrument, order_id, trader, self.clock()))
        return self.orders[order_id]

    def amend(self, order_id: int, trader: str, *, quantity: int | None = None,
              price: Decimal | None = None) -> OrderUpdate:  # fmt: skip
        """Change an open order's total quantity and/or price, validated as a new order's.

        Raises OrderRejectedError for a quantity off the lot or a price off the
        grid or outside the band; UnknownOrderError for an order not open.
        """
        state = self._own(order_id, trader)
        self._expire_due(state.instrument)
        if not self.is_open(order_id):
            state = self.orders[order_id]
            raise UnknownOrderError(f"order {order_id} is {state.status}, it cannot change")
        instrument = self.instruments[state.instrument]
        if quantity is not None and not 0 <= quantity <= MAX_QUANTITY:
            raise OrderRejectedError(RejectReason.BAD_QUANTITY, f"quantity must be 0 (cancel) "
                                     f"to {MAX_QUANTITY:,}, got {quantity}")  # fmt: skip
        if quantity is not None and quantity % instrument.lot_size:
            raise OrderRejectedError(RejectReason.LOT_SIZE, f"quantity {quantity} is not a "
                                     f"multiple of the lot size {instrument.lot_size}")  # fmt: skip
        ticks = None
        if price is not None:
            band = self.engine.limits(state.instrument)
            ticks = price_ticks(price, instrument, band, self.engine.last_price(state.instrument))
        if quantity in (None, state.filled + state.open) and ticks in (None, state.price):
            raise OrderRejectedError(RejectReason.NO_CHANGE, "the amendment changes nothing: "
                                     "give a new total --quantity or a new --price")  # fmt: skip
        command = Amend(state.instrument, order_id, trader, self.clock(), quantity=quantity,
                        price=ticks)  # fmt: skip
        _answer(self._run(command))
        return self.orders[order_id]

    def _expire_due(self, symbol: str) -> list[OrderUpdate]:
        """Expire ``symbol``'s resting orders whose time has come; return their states."""
        due = self.engine.next_expiry(symbol)
        now = self.clock()
        if due is None or due > now:
            return []
        return [r for r in self._run(Expire(symbol, now)) if type(r) is OrderUpdate]

    def expire_due(self) -> list[OrderUpdate]:
        """Expire the orders whose time has come (a timer calls this); return their states."""
        return [update for symbol in self.instruments for update in self._expire_due(symbol)]
