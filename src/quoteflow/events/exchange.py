"""The exchange's records: the words of an order, the command log, what matching reports.

Prices and quantities are integers here: prices in ticks of the instrument,
timestamps in nanoseconds since the Unix epoch, UTC. Every command names its
symbol, which is its key on the ``orders`` topic: the commands of one symbol
stay in order in one partition, and one book never depends on another's.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

__all__ = [
    "TERMINAL",
    "AcceptedOrder",
    "Amend",
    "BookUpdate",
    "Cancel",
    "Command",
    "EngineRecord",
    "ExchangeRecord",
    "Execution",
    "Expire",
    "Level",
    "OrderStatus",
    "OrderType",
    "OrderUpdate",
    "Sequenced",
    "Side",
    "Submit",
    "TimeInForce",
    "WindowLeader",
    "WindowStats",
    "symbol_of",
]

PROVIDER = "EXCHANGE"
"""The provider of every record the exchange reports (and of its trades as market data)."""


class Side(StrEnum):
    """Buy or sell."""

    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    """A limit order has a price; a market order takes what the book offers, within the band."""

    LIMIT = "limit"
    MARKET = "market"


class TimeInForce(StrEnum):
    """How long an order may rest: the session, until cancelled, not at all, or until a time."""

    DAY = "DAY"
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    GTD = "GTD"


class AcceptedOrder(msgspec.Struct, frozen=True, gc=False):
    """A valid order, in ticks and nanoseconds, as it goes to the ``orders`` topic.

    ``price`` is None for market orders; ``expire_ns`` is the session close for
    DAY, the requested time for GTD, None for the others.
    """

    client_order_id: str
    trader: str
    symbol: str
    side: Side
    type: OrderType
    quantity: int
    price: int | None
    time_in_force: TimeInForce
    expire_ns: int | None
    received_ns: int


class Submit(msgspec.Struct, tag="submit", frozen=True):
    """Accept an order."""

    order: AcceptedOrder


class Cancel(msgspec.Struct, tag="cancel", frozen=True):
    """Cancel an order of ``trader``."""

    symbol: str
    order_id: int
    trader: str
    ts: int


class Amend(msgspec.Struct, tag="amend", frozen=True):
    """Change an order's total quantity and/or price (ticks)."""

    symbol: str
    order_id: int
    trader: str
    ts: int
    quantity: int | None = None
    price: int | None = None


class Expire(msgspec.Struct, tag="expire", frozen=True):
    """Time has reached ``ts``: expire what is due in the book of ``symbol``."""

    symbol: str
    ts: int


Command = Submit | Cancel | Amend | Expire


class Sequenced(msgspec.Struct, frozen=True, gc=False):
    """A command with its sequence number in the log: a record of the ``orders`` topic."""

    sequence: int
    command: Command


def symbol_of(command: Command) -> str:
    """Return the symbol ``command`` is about (its key on the ``orders`` topic)."""
    return command.order.symbol if isinstance(command, Submit) else command.symbol


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


class ExchangeRecord(msgspec.Struct, frozen=True, gc=False):
    """What every record the exchange reports carries, like every market record.

    ``provider`` is ``EXCHANGE``; ``instrument`` the listed symbol; ``ts_event``
    the exchange's time of the event (for a window: its start) and ``ts_recv``
    when quoteflow had the input that caused it (for the engine: the command's
    time), both in nanoseconds since the epoch.
    """

    provider: str
    instrument: str
    ts_event: int
    ts_recv: int


class OrderUpdate(ExchangeRecord, frozen=True, gc=False):
    """An order's new state: status, filled and open quantity, price, and why.

    ``sequence`` is the command that caused it; ``ack`` marks the update that
    answers that command. A ``rejected`` update of an order that is still open
    refuses an amendment and leaves the order as it was.
    """

    order_id: int
    client_order_id: str
    trader: str
    status: OrderStatus
    filled: int
    open: int
    price: int | None
    reason: str | None
    sequence: int
    ack: bool = False


class Execution(ExchangeRecord, frozen=True, gc=False):
    """A trade between two orders, at the resting order's price; ids count per instrument."""

    execution_id: int
    price: int
    quantity: int
    aggressor: Side
    buy_order_id: int
    sell_order_id: int
    buy_trader: str
    sell_trader: str
    sequence: int


class BookUpdate(ExchangeRecord, frozen=True, gc=False):
    """What a command changed in a book: levels (L2 deltas) and the top of book after it.

    ``bids`` and ``asks`` list (price, open quantity) for each level that
    changed, quantity 0 for a level that is gone; ``best_bid`` and ``best_ask``
    are the top levels after the command (None: that side is empty).
    """

    bids: list[Level]
    asks: list[Level]
    best_bid: Level | None
    best_ask: Level | None
    sequence: int


EngineRecord = OrderUpdate | Execution | BookUpdate


class WindowStats(ExchangeRecord, frozen=True, gc=False):
    """One instrument's trades in one window: SMA of the prices, open, close and profit.

    ``ts_event`` is the window's start, ``window_end`` its end; ``ts_recv`` the
    latest receive time of its trades.
    """

    window_end: int
    trades: int
    volume: float
    open: float
    close: float
    sma: float
    profit: float
    profit_pct: float


class WindowLeader(ExchangeRecord, frozen=True, gc=False):
    """The instrument with the highest profit (in percent) in one window, of ``symbols`` traded.

    ``ts_event`` is the window's start; ``ts_recv`` the latest of its windows' ``ts_recv``.
    """

    window_end: int
    profit: float
    profit_pct: float
    symbols: int
