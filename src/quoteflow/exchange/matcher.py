"""One matching engine per partition of the ``orders`` topic, and the topics its records go to.

A :class:`Matcher` reads sequenced commands (each with the partition it came
from) and returns the records to publish, keyed by symbol:

- ``exchange.order_updates``: :class:`~quoteflow.exchange.engine.OrderUpdate`
- ``exchange.executions``: :class:`~quoteflow.exchange.engine.Execution`
- ``exchange.book``: :class:`~quoteflow.exchange.engine.BookUpdate` (L2 deltas, top of book)
- ``trades``: each execution again as a market-data :class:`~quoteflow.events.Trade`
  (provider ``EXCHANGE``, decimal prices as floats), so candles, indicators,
  the lake and the gateway take exchange trades like any feed's.

A command whose sequence number its engine has already applied is skipped, so a
log published twice (after a restart) gives each record once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from quoteflow.events import Trade
from quoteflow.exchange.commands import Sequenced
from quoteflow.exchange.engine import BookUpdate, Engine, EngineRecord, Execution, OrderUpdate
from quoteflow.exchange.instruments import ExchangeInstrument

__all__ = [
    "BOOK_TOPIC",
    "EXECUTIONS_TOPIC",
    "ORDERS_TOPIC",
    "ORDER_UPDATES_TOPIC",
    "PROVIDER",
    "TRADES_TOPIC",
    "Matcher",
    "market_trade",
]

ORDERS_TOPIC = "orders"
ORDER_UPDATES_TOPIC = "exchange.order_updates"
EXECUTIONS_TOPIC = "exchange.executions"
BOOK_TOPIC = "exchange.book"
TRADES_TOPIC = Trade.TYPE
PROVIDER = "EXCHANGE"

Output = tuple[str, str, Any]
"""A record to publish: (topic, key, value)."""


def market_trade(execution: Execution, instrument: ExchangeInstrument) -> Trade:
    """Return ``execution`` in the market-data trade schema."""
    return Trade(PROVIDER, execution.symbol, execution.ts, execution.ts,
                 price=float(instrument.price(execution.price)), size=float(execution.quantity),
                 trade_id=f"{execution.symbol}-{execution.execution_id}", exchange=PROVIDER,
                 aggressor_side=execution.aggressor.value)  # fmt: skip


class Matcher:
    """The engines of the ``orders`` partitions one process matches, created on first use."""

    def __init__(self, instruments: Mapping[str, ExchangeInstrument]) -> None:
        self.instruments = dict(instruments)
        self.engines: dict[int, Engine] = {}

    def engine(self, partition: int) -> Engine:
        """Return the engine of ``partition``."""
        engine = self.engines.get(partition)
        if engine is None:
            engine = self.engines[partition] = Engine(self.instruments)
        return engine

    def apply(self, partition: int, logged: Sequenced) -> list[EngineRecord]:
        """Apply a command from ``partition``; return its records (none if applied before)."""
        engine = self.engine(partition)
        if logged.sequence <= engine.last_sequence:
            return []
        return engine.apply(logged.sequence, logged.command)

    def outputs(self, records: list[EngineRecord]) -> list[Output]:
        """Return where ``records`` go, in order: topic, key (the symbol) and value."""
        out: list[Output] = []
        for record in records:
            if type(record) is OrderUpdate:
                out.append((ORDER_UPDATES_TOPIC, record.symbol, record))
            elif type(record) is Execution:
                out.append((EXECUTIONS_TOPIC, record.symbol, record))
                trade = market_trade(record, self.instruments[record.symbol])
                out.append((TRADES_TOPIC, record.symbol, trade))
            elif type(record) is BookUpdate:
                out.append((BOOK_TOPIC, record.symbol, record))
        return out
