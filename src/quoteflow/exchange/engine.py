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
their book and by :class:`~quoteflow.events.exchange.Expire` commands. A
limit price outside the band around the last trade is refused (``outside_band``):
order entry checks it first, but only the engine knows the last trade for sure.
Books are independent of each other (execution ids and expiries are per
symbol), so the records do not depend on how symbols are spread over partitions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import msgspec
import numba
import numpy as np

from quoteflow.events.exchange import (
    PROVIDER,
    AcceptedOrder,
    Amend,
    BookUpdate,
    Cancel,
    Command,
    EngineRecord,
    Execution,
    Expire,
    Level,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    Submit,
    TimeInForce,
)
from quoteflow.exchange import _matching as m
from quoteflow.exchange._matching import band, match_batch, room_needed
from quoteflow.exchange.instruments import ExchangeInstrument

__all__ = ["Engine", "EngineOutput"]

_MAX_BAND_NUMERATOR = 10**6  # band_pct's digits: the band's integer arithmetic stays in int64
_ORDERS_KEPT = 4096  # ended orders kept before the accepted orders are pruned
_COMMAND_FIELDS = [m.C_SEQUENCE, m.C_BOOK, m.C_NOW, m.C_TRADER]


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


_STATUSES = tuple(OrderStatus)
_REASONS = (None, "outside_band", "fok_not_fillable", "not_filled_at_once",
            "cancelled_by_trader", "amended_to_zero", "self_trade", "unknown_order")  # fmt: skip
_TIME_IN_FORCE = {tif: code for code, tif in enumerate(TimeInForce)}
_SIDES = (Side.BUY, Side.SELL)


class EngineOutput(msgspec.Struct, gc=False):
    """What a batch of commands did, as rows (see :mod:`quoteflow.exchange._matching`).

    ``events`` has one row per order update, execution and book change, in the
    order they happened; a book change's levels are rows of ``levels`` (price,
    open quantity), its bids then its asks.
    """

    events: np.ndarray
    levels: np.ndarray


class Engine:
    """Books of several symbols, matched by price-time priority.

    The books live in arrays matched by a compiled loop. :meth:`apply_all`
    takes a batch of commands; :meth:`encode`, :meth:`run` and :meth:`records`
    are its three steps, for callers that keep commands and results as rows.
    :meth:`snapshot` and :meth:`restore` carry an engine's whole state as bytes
    (a partition moving to another process); a restored engine gives the same
    records as the original for the same commands.
    """

    def __init__(self, instruments: Mapping[str, ExchangeInstrument]) -> None:
        self.instruments = dict(instruments)
        self.symbols = list(self.instruments)
        self._book_of = {symbol: b for b, symbol in enumerate(self.symbols)}
        self._traders: list[str] = []
        self._trader_of: dict[str, int] = {}
        self._orders: dict[int, AcceptedOrder] = {}  # every order that may still rest
        self._prune_at = _ORDERS_KEPT  # forget ended orders once there are this many
        n = len(self.symbols)
        self._books = np.zeros((n, m.B_FIELDS), dtype=np.int64)
        for b, instrument in enumerate(self.instruments.values()):
            numerator, denominator = instrument.band_pct.as_integer_ratio()
            if numerator > _MAX_BAND_NUMERATOR:
                raise ValueError(f"{instrument.symbol}: band_pct {instrument.band_pct} has too "
                                 "many digits")  # fmt: skip
            self._books[b, m.B_BAND_NUMERATOR] = numerator
            self._books[b, m.B_BAND_DENOMINATOR] = denominator
            self._trade_at(b, instrument.ticks(instrument.reference_price))
        self._slots = np.zeros((64, m.O_FIELDS), dtype=np.int64)
        self._free = np.arange(63, -1, -1, dtype=np.int64)
        self._ids = numba.typed.Dict.empty(numba.types.int64, numba.types.int64)
        self._levels = np.zeros((2 * n, 16, m.L_FIELDS), dtype=np.int64)
        self._sizes = np.zeros(2 * n, dtype=np.int64)
        self._heaps = np.zeros((n, 16, 2), dtype=np.int64)
        self._heap_sizes = np.zeros(n, dtype=np.int64)
        self._counters = np.zeros(4, dtype=np.int64)
        self._counters[m.N_FREE] = 64
        self._events = np.zeros((256, m.E_FIELDS), dtype=np.int64)
        self._levels_out = np.zeros((256, 2), dtype=np.int64)
        self._changed = np.zeros((256, 2), dtype=np.int64)
        self.run(np.empty((0, m.C_FIELDS), dtype=np.int64))  # compiles (or loads) the loop now

    @property
    def last_sequence(self) -> int:
        """The sequence number of the last command applied."""
        return int(self._counters[m.N_LAST_SEQUENCE])

    # snapshots -------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """Return the engine's state as bytes: books in priority order, counters, last sequence."""
        books = {}
        for b, symbol in enumerate(self.symbols):
            resting = [_RestingState(order_id, self._orders[order_id], price, quantity, filled)
                       for side in (m.BUY, m.SELL)
                       for order_id, price, quantity, filled in self._resting(b, side)]  # fmt: skip
            books[symbol] = _BookState(int(self._books[b, m.B_LAST]),
                                       int(self._books[b, m.B_EXECUTIONS]), resting)  # fmt: skip
        return msgspec.msgpack.encode(_EngineState(self.last_sequence, books))

    @classmethod
    def restore(cls, instruments: Mapping[str, ExchangeInstrument], data: bytes) -> Engine:
        """Return an engine in the state of a :meth:`snapshot`."""
        state = msgspec.msgpack.decode(data, type=_EngineState)
        engine = cls(instruments)
        rows = []
        for symbol, saved in state.books.items():
            b = engine._book_of[symbol]
            engine._trade_at(b, saved.last)
            engine._books[b, m.B_EXECUTIONS] = saved.executions
            for kept in saved.resting:
                row = engine._order_row(kept.order, state.last_sequence, kept.order_id, m.REST)
                row[m.C_PRICE], row[m.C_QUANTITY] = kept.price, kept.quantity
                row[m.C_FILLED] = kept.filled
                rows.append(row)
                engine._orders[kept.order_id] = kept.order
        engine.run(np.array(rows, dtype=np.int64).reshape(-1, m.C_FIELDS))
        engine._counters[m.N_LAST_SEQUENCE] = state.last_sequence
        return engine

    # the commands ----------------------------------------------------------------

    def submit(self, sequence: int, order: AcceptedOrder) -> list[EngineRecord]:
        """Accept ``order`` as order ``sequence``: match it, rest what may rest."""
        return self.apply(sequence, Submit(order))

    def cancel(self, sequence: int, symbol: str, order_id: int, trader: str,
               now: int) -> list[EngineRecord]:  # fmt: skip
        """Cancel an open order of ``trader``; a rejected update if there is none."""
        return self.apply(sequence, Cancel(symbol, order_id, trader, now))

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
        return self.apply(sequence, Amend(symbol, order_id, trader, now, quantity, price))

    def expire(self, sequence: int, symbol: str, now: int) -> list[EngineRecord]:
        """Expire the DAY and GTD orders of ``symbol`` whose time has come, earliest first."""
        return self.apply(sequence, Expire(symbol, now))

    def apply(self, sequence: int, command: Command) -> list[EngineRecord]:
        """Carry out command ``sequence`` of the log (see :mod:`quoteflow.exchange.commands`)."""
        return self.apply_all([(sequence, command)])

    def apply_all(self, commands: Iterable[tuple[int, Command]]) -> list[EngineRecord]:
        """Carry out (sequence, command) pairs in order; return their records in order."""
        rows = self.encode(commands)
        return self.records(rows, self.run(rows))

    def encode(self, commands: Iterable[tuple[int, Command]]) -> np.ndarray:
        """Return (sequence, command) pairs as the rows :meth:`run` takes.

        Take the records of one batch before encoding the next: encoding
        forgets the orders that no longer rest.
        """
        if len(self._orders) > self._prune_at:
            resting = np.ones(len(self._slots), dtype=np.bool_)
            resting[self._free[: self._counters[m.N_FREE]]] = False
            ids = self._slots[resting, m.O_ID].tolist()
            self._orders = {order_id: self._orders[order_id] for order_id in ids}
            self._prune_at = 2 * len(ids) + _ORDERS_KEPT
        rows = []
        for sequence, command in commands:
            if type(command) is Submit:
                rows.append(self._order_row(command.order, sequence, sequence, m.SUBMIT))
                self._orders[sequence] = command.order
                continue
            row = [0] * m.C_FIELDS
            row[m.C_SEQUENCE], row[m.C_BOOK] = sequence, self._book_of[command.symbol]
            row[m.C_NOW] = command.ts
            if type(command) is Expire:
                row[m.C_KIND] = m.EXPIRE
            else:
                row[m.C_KIND] = m.CANCEL if type(command) is Cancel else m.AMEND
                row[m.C_ORDER], row[m.C_TRADER] = command.order_id, self._trader(command.trader)
                if type(command) is Amend:
                    if command.quantity is not None:
                        row[m.C_NEW_QUANTITY], row[m.C_HAS_NEW_QUANTITY] = command.quantity, 1
                    if command.price is not None:
                        row[m.C_NEW_PRICE], row[m.C_HAS_NEW_PRICE] = command.price, 1
            rows.append(row)
        return np.array(rows, dtype=np.int64).reshape(-1, m.C_FIELDS)

    def run(self, rows: np.ndarray) -> EngineOutput:
        """Apply encoded commands in order; return what happened as rows."""
        self._counters[m.N_EVENTS] = self._counters[m.N_LEVELS_OUT] = 0
        done = 0
        while True:
            done = match_batch(done, rows, self._slots, self._free, self._ids, self._levels,
                               self._sizes, self._heaps, self._heap_sizes, self._books,
                               self._counters, self._events, self._levels_out,
                               self._changed)  # fmt: skip
            if done == len(rows):
                break
            self._make_room(int(rows[done, m.C_BOOK]))
        return EngineOutput(self._events[: self._counters[m.N_EVENTS]].copy(),
                            self._levels_out[: self._counters[m.N_LEVELS_OUT]].copy())  # fmt: skip

    def records(self, rows: np.ndarray, output: EngineOutput) -> list[EngineRecord]:
        """Return the records of what encoded commands ``rows`` did (``output`` of :meth:`run`)."""
        sequences, books, times, actors = rows[:, _COMMAND_FIELDS].T.tolist()
        levels = list(zip(*output.levels.T.tolist(), strict=True))
        orders, traders, symbols = self._orders, self._traders, self.symbols
        out: list[EngineRecord] = []
        for kind, command, *fields in zip(*output.events.T.tolist(), strict=True):
            sequence, book, now = sequences[command], books[command], times[command]
            symbol = symbols[book]
            if kind == m.UPDATE:
                order_id, status, filled, left, price, has_price, reason, ack, _ = fields
                if reason == m.R_UNKNOWN_ORDER:
                    client_order_id, owner = "", traders[actors[command]]
                else:
                    order = orders[order_id]
                    client_order_id, owner = order.client_order_id, order.trader
                out.append(OrderUpdate(PROVIDER, symbol, now, now, order_id, client_order_id, owner,
                                       _STATUSES[status], filled, left,
                                       price if has_price else None, _REASONS[reason], sequence,
                                       ack == 1))  # fmt: skip
            elif kind == m.EXECUTION:
                execution_id, price, quantity, aggressor, buy, sell, buyer, seller, _ = fields
                out.append(Execution(PROVIDER, symbol, now, now, execution_id, price, quantity,
                                     _SIDES[aggressor], buy, sell, traders[buyer],
                                     traders[seller], sequence))  # fmt: skip
            else:
                start, bids, asks, bid, bid_quantity, has_bid, ask, ask_quantity, has_ask = fields
                middle = start + bids
                out.append(BookUpdate(PROVIDER, symbol, now, now, levels[start:middle],
                                      levels[middle : middle + asks],
                                      (bid, bid_quantity) if has_bid else None,
                                      (ask, ask_quantity) if has_ask else None,
                                      sequence))  # fmt: skip
        return out

    # views -----------------------------------------------------------------------

    def next_expiry(self, symbol: str) -> int | None:
        """Return the earliest expiry time among ``symbol``'s resting orders; None if none has one.

        Entries of orders that left the book are dropped from the heap on the way.
        """
        b = self._book_of[symbol]
        while self._heap_sizes[b]:
            if int(self._heaps[b, 0, 1]) in self._ids:
                return int(self._heaps[b, 0, 0])
            m.heap_pop(self._heaps, self._heap_sizes, b)
        return None

    def depth(self, symbol: str, levels: int) -> tuple[list[Level], list[Level]]:
        """Return the best ``levels`` (price, open quantity) of the bids and of the asks."""
        b = self._book_of[symbol]
        sides = []
        for side, sign in ((m.BUY, 1), (m.SELL, -1)):
            size = int(self._sizes[2 * b + side])
            best = self._levels[2 * b + side, max(0, size - levels) : size][::-1]
            sides.append([(sign * key, total) for key, total in
                          best[:, [m.L_KEY, m.L_TOTAL]].tolist()])  # fmt: skip
        return sides[0], sides[1]

    def resting(self, symbol: str) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
        """Return (order id, price, open quantity) of the resting bids and asks, in priority."""
        b = self._book_of[symbol]
        return tuple(  # type: ignore[return-value]
            [(order_id, price, quantity - filled)
             for order_id, price, quantity, filled in self._resting(b, side)]
            for side in (m.BUY, m.SELL)
        )  # fmt: skip

    def last_price(self, symbol: str) -> int:
        """Return the last trade price of ``symbol`` (ticks; the reference price before any)."""
        return int(self._books[self._book_of[symbol], m.B_LAST])

    def limits(self, symbol: str) -> tuple[int, int]:
        """Return the price band of ``symbol`` (ticks), around its last trade."""
        low, high = self._books[self._book_of[symbol], [m.B_LOW, m.B_HIGH]].tolist()
        return low, high

    def executions(self, symbol: str) -> int:
        """Return how many executions ``symbol`` has had."""
        return int(self._books[self._book_of[symbol], m.B_EXECUTIONS])

    def is_open(self, order_id: int) -> bool:
        """Return whether order ``order_id`` rests in a book."""
        return order_id in self._ids

    def open_orders(self) -> set[int]:
        """Return the ids of the resting orders."""
        return set(self._ids.keys())

    # inside ----------------------------------------------------------------------

    def _trade_at(self, b: int, price: int) -> None:
        books = self._books
        books[b, m.B_LAST] = price
        books[b, m.B_LOW], books[b, m.B_HIGH] = band(price, books[b, m.B_BAND_NUMERATOR],
                                                    books[b, m.B_BAND_DENOMINATOR])  # fmt: skip

    def _trader(self, name: str) -> int:
        code = self._trader_of.get(name)
        if code is None:
            code = self._trader_of[name] = len(self._traders)
            self._traders.append(name)
        return code

    def _order_row(self, order: AcceptedOrder, sequence: int, order_id: int,
                   kind: int) -> list[int]:  # fmt: skip
        row = [0] * m.C_FIELDS
        row[m.C_KIND], row[m.C_SEQUENCE], row[m.C_ORDER] = kind, sequence, order_id
        row[m.C_BOOK], row[m.C_TRADER] = self._book_of[order.symbol], self._trader(order.trader)
        row[m.C_SIDE] = m.BUY if order.side is Side.BUY else m.SELL
        row[m.C_MARKET] = int(order.type is OrderType.MARKET)
        row[m.C_TIF], row[m.C_QUANTITY] = _TIME_IN_FORCE[order.time_in_force], order.quantity
        row[m.C_PRICE] = order.price or 0
        if order.expire_ns is not None:
            row[m.C_EXPIRE], row[m.C_HAS_EXPIRE] = order.expire_ns, 1
        row[m.C_NOW] = order.received_ns
        return row

    def _resting(self, b: int, side: int) -> list[tuple[int, int, int, int]]:
        """Return (order id, price, quantity, filled) of one side's orders, in priority."""
        out = []
        bs = 2 * b + side
        slots = self._slots
        for p in range(int(self._sizes[bs]) - 1, -1, -1):
            slot = int(self._levels[bs, p, m.L_HEAD])
            while slot != m.NONE:
                order_id, price, quantity, filled, slot = slots[
                    slot, [m.O_ID, m.O_PRICE, m.O_QUANTITY, m.O_FILLED, m.O_NEXT]
                ].tolist()
                out.append((order_id, price, quantity, filled))
        return out

    def _make_room(self, b: int) -> None:
        """Grow the buffers a command on book ``b`` might overflow (see ``room_needed``)."""
        counters = self._counters
        free, levels, heap, events, levels_out, changed = room_needed(
            b, self._sizes, self._heap_sizes, self._books, counters
        )
        while counters[m.N_FREE] < free:
            size = len(self._slots)
            self._slots = _grown(self._slots)
            self._free = np.concatenate([self._free, np.zeros(size, dtype=np.int64)])
            self._free[counters[m.N_FREE] : counters[m.N_FREE] + size] = np.arange(
                2 * size - 1, size - 1, -1
            )
            counters[m.N_FREE] += size
        while self._levels.shape[1] < levels:
            self._levels = _grown(self._levels, axis=1)
        while self._heaps.shape[1] < heap:
            self._heaps = _grown(self._heaps, axis=1)
        while len(self._events) < events:
            self._events = _grown(self._events)
        while len(self._levels_out) < levels_out:
            self._levels_out = _grown(self._levels_out)
        while len(self._changed) < changed:
            self._changed = _grown(self._changed)


def _grown(array: np.ndarray, axis: int = 0) -> np.ndarray:
    """Return ``array`` twice as long along ``axis``, zeros after its rows."""
    return np.concatenate([array, np.zeros_like(array)], axis=axis)
