"""Each trader's live order events, handed to their open WebSocket connections.

A connection watches one trader: it gets that trader's order updates
(acknowledgements, fills, cancels, expiries, refusals) and the executions in
which the trader is buyer or seller, in the order the engine made them. A
connection that falls ``limit`` events behind is marked ``overflowed`` and
gets nothing more (its handler closes it): a trader never silently misses
an event on a connection that stays open.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable

from quoteflow.events.exchange import EngineRecord, Execution, OrderUpdate

__all__ = ["Watch", "Watchers"]


class Watch:
    """One connection's queue of events for one trader."""

    def __init__(self, trader: str, limit: int) -> None:
        self.trader = trader
        self.queue: asyncio.Queue[OrderUpdate | Execution] = asyncio.Queue(limit)
        self.overflowed = asyncio.Event()

    def offer(self, event: OrderUpdate | Execution) -> None:
        """Queue ``event``; past the limit, mark the watch overflowed instead."""
        if self.overflowed.is_set():
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed.set()


class Watchers:
    """The open watches, by trader."""

    def __init__(self) -> None:
        self._by_trader: dict[str, set[Watch]] = defaultdict(set)

    def open(self, trader: str, limit: int = 10_000) -> Watch:
        """Start watching ``trader``'s events."""
        watch = Watch(trader, limit)
        self._by_trader[trader].add(watch)
        return watch

    def close(self, watch: Watch) -> None:
        """Stop a watch."""
        watches = self._by_trader.get(watch.trader)
        if watches is not None:
            watches.discard(watch)
            if not watches:
                del self._by_trader[watch.trader]

    def publish(self, records: Iterable[EngineRecord]) -> None:
        """Hand each record to the watches of the traders it concerns."""
        if not self._by_trader:
            return
        by_trader = self._by_trader
        for record in records:
            if type(record) is OrderUpdate:
                for watch in by_trader.get(record.trader, ()):
                    watch.offer(record)
            elif type(record) is Execution:
                for trader in {record.buy_trader, record.sell_trader}:
                    for watch in by_trader.get(trader, ()):
                        watch.offer(record)
