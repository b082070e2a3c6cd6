"""The newest records in memory: what a screen shows of a running pipeline."""

from __future__ import annotations

from collections import Counter, deque

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from quoteflow.bus.base import Message, records_of
from quoteflow.events import Alert, Bar, DeadLetter, EnrichedQuote, EnrichedTrade
from quoteflow.sinks.base import Sink

__all__ = ["SummarySink"]


class SummarySink(Sink):
    """Keep what the demo shows: newest enriched records and bars, recent alerts, dead letters."""

    name = "summary"

    def __init__(self, bars_topic: str) -> None:
        self.topics = (EnrichedQuote.TYPE, EnrichedTrade.TYPE, bars_topic, Alert.TYPE,
                       DeadLetter.TOPIC)  # fmt: skip
        self.quotes: dict[str, EnrichedQuote] = {}
        self.trades: dict[str, EnrichedTrade] = {}
        self.bars: dict[str, Bar] = {}
        self.alerts: deque[Alert] = deque(maxlen=6)
        self.dead_letters: list[DeadLetter] = []
        self.seen: Counter[str] = Counter()

    async def write(self, messages: list[Message]) -> None:
        """Remember the newest record of each kind per instrument."""
        for message in messages:
            self.seen[message.topic] += message.rows
        for value in records_of(_newest_rows(message) for message in messages):
            if isinstance(value, EnrichedQuote):
                self.quotes[value.instrument] = value
            elif isinstance(value, EnrichedTrade):
                self.trades[value.instrument] = value
            elif isinstance(value, Bar):
                self.bars[value.instrument] = value
            elif isinstance(value, Alert):
                self.alerts.append(value)
            elif isinstance(value, DeadLetter):
                self.dead_letters.append(value)

    async def close(self) -> None:
        """Nothing is buffered: the summary is kept in memory."""


def _newest_rows(message: Message) -> Message:
    """Return the message with, of an Arrow batch, only each instrument's newest row.

    The summary keeps the newest record per instrument, so it makes a record of
    no other row.
    """
    batch = message.value
    if not isinstance(batch, pa.RecordBatch) or batch.num_rows < 2:
        return message
    codes = pc.dictionary_encode(batch.column("instrument")).indices.to_numpy()
    _, first_from_end = np.unique(codes[::-1], return_index=True)
    newest = np.sort(len(codes) - 1 - first_from_end)
    return msgspec.structs.replace(message, value=batch.take(pa.array(newest)))
