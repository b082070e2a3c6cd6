"""The matching stage: one engine per partition of the ``orders`` topic, and where records go.

:class:`MatchingOperator` is a pipeline operator (see
:mod:`quoteflow.runtime.pipeline`): its state is the engine of one ``orders``
partition, so the runtime gives each partition its own engine, embedded or
over Kafka, where partitions (with their engines, as snapshots) move between
``quoteflow run match`` processes. It reads sequenced commands in order and
publishes, keyed by symbol:

- ``exchange.order_updates``: :class:`~quoteflow.exchange.engine.OrderUpdate`
- ``exchange.executions``: :class:`~quoteflow.exchange.engine.Execution`
- ``exchange.book``: :class:`~quoteflow.exchange.engine.BookUpdate` (L2 deltas, top of book)
- ``trades``: each execution again as a market-data :class:`~quoteflow.events.Trade`
  (provider ``EXCHANGE``, decimal prices as floats), so candles, indicators,
  the lake and the gateway take exchange trades like any feed's.

A command whose sequence number the engine has already applied is skipped, so
an ``orders`` log published again (after a restart) gives each record once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from quoteflow.events import Trade
from quoteflow.events.exchange import (
    PROVIDER,
    BookUpdate,
    Command,
    EngineRecord,
    Execution,
    OrderUpdate,
    Sequenced,
)
from quoteflow.exchange.engine import Engine
from quoteflow.exchange.instruments import ExchangeInstrument

__all__ = [
    "BOOK_TOPIC",
    "EXECUTIONS_TOPIC",
    "ORDERS_TOPIC",
    "ORDER_UPDATES_TOPIC",
    "OUTPUT_TOPICS",
    "PROVIDER",
    "TRADES_TOPIC",
    "MatchingOperator",
    "market_trade",
]

ORDERS_TOPIC = "orders"
ORDER_UPDATES_TOPIC = "exchange.order_updates"
EXECUTIONS_TOPIC = "exchange.executions"
BOOK_TOPIC = "exchange.book"
TRADES_TOPIC = Trade.TYPE
OUTPUT_TOPICS = (ORDER_UPDATES_TOPIC, EXECUTIONS_TOPIC, BOOK_TOPIC, TRADES_TOPIC)


def market_trade(execution: Execution, instrument: ExchangeInstrument) -> Trade:
    """Return ``execution`` in the market-data trade schema."""
    return Trade(PROVIDER, execution.instrument, execution.ts_event, execution.ts_recv,
                 price=float(instrument.price(execution.price)), size=float(execution.quantity),
                 trade_id=f"{execution.instrument}-{execution.execution_id}", exchange=PROVIDER,
                 aggressor_side=execution.aggressor.value)  # fmt: skip


class MatchingOperator:
    """Match the commands of one ``orders`` partition; state: that partition's engine."""

    def __init__(self, instruments: Mapping[str, ExchangeInstrument]) -> None:
        self.instruments = dict(instruments)
        Engine({})  # loads the compiled loop now, not when partitions are assigned

    def initial_state(self) -> Engine:
        """Return the engine of a partition that has seen no command."""
        return Engine(self.instruments)

    def snapshot(self, engine: Engine) -> bytes:
        """Return the engine's state as bytes."""
        return engine.snapshot()

    def restore(self, data: bytes) -> Engine:
        """Return the engine of a :meth:`snapshot`."""
        return Engine.restore(self.instruments, data)

    def process(self, batch: Sequence[Sequenced],
                engine: Engine) -> tuple[list[tuple[str, Any]], Engine]:  # fmt: skip
        """Apply the commands not applied yet, in order; return their records by topic.

        A command at or below the last sequence seen (a resent part of the log) is skipped.
        """
        fresh: list[tuple[int, Command]] = []
        last = engine.last_sequence
        for logged in batch:
            if logged.sequence > last:
                fresh.append((logged.sequence, logged.command))
                last = logged.sequence
        return self.routed(engine.apply_all(fresh)) if fresh else [], engine

    def routed(self, records: list[EngineRecord]) -> list[tuple[str, Any]]:
        """Return ``(topic, record)`` of each record, in order (executions also as trades)."""
        out: list[tuple[str, Any]] = []
        for record in records:
            if type(record) is OrderUpdate:
                out.append((ORDER_UPDATES_TOPIC, record))
            elif type(record) is Execution:
                out.append((EXECUTIONS_TOPIC, record))
                out.append(
                    (TRADES_TOPIC, market_trade(record, self.instruments[record.instrument]))
                )
            elif type(record) is BookUpdate:
                out.append((BOOK_TOPIC, record))
        return out
