"""Replay recorded records from CSV or Parquet files, at recorded pace or as fast as possible."""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import AsyncIterator, Callable, Sequence
from operator import attrgetter
from pathlib import Path

from quoteflow.events import Event
from quoteflow.feeds.base import Normalized
from quoteflow.recordio import read_records

__all__ = ["ReplayFeed"]

_NS_PER_S = 1_000_000_000
_by_event_time = attrgetter("ts_event")


class ReplayFeed:
    """Play the records of one or more files in ``ts_event`` order.

    Files are merged by event time (ties keep file order). With ``speed`` set,
    the gaps between records are kept, divided by ``speed`` (2.0 plays twice as
    fast); with ``speed=None`` records go out as fast as the pipeline takes
    them, ``batch_size`` at a time. Records due within ``window_ms`` of each other
    go out together. ``clock`` and ``sleep`` are injectable for tests.
    """

    name = "replay"

    def __init__(
        self,
        paths: Sequence[str | Path],
        *,
        speed: float | None = 1.0,
        window_ms: float = 10.0,
        batch_size: int = 1000,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = asyncio.sleep,
    ) -> None:
        if not paths:
            raise ValueError("give at least one file to replay")
        if speed is not None and speed <= 0:
            raise ValueError("speed must be > 0, or None for as fast as possible")
        self.paths = [Path(p) for p in paths]
        self.speed = speed
        self.window_ns = int(window_ms * 1_000_000)
        self.batch_size = batch_size
        self._clock = clock
        self._sleep = sleep

    def records(self) -> list[Event]:
        """Read every file and return all records merged by event time."""
        per_file = [sorted(read_records(path), key=_by_event_time) for path in self.paths]
        return list(heapq.merge(*per_file, key=_by_event_time))

    def _batches(self, records: list[Event]) -> list[list[Event]]:
        if self.speed is None:
            return [
                records[i : i + self.batch_size] for i in range(0, len(records), self.batch_size)
            ]
        batches: list[list[Event]] = []
        for record in records:
            if batches and record.ts_event - batches[-1][0].ts_event < self.window_ns:
                batches[-1].append(record)
            else:
                batches.append([record])
        return batches

    async def stream(self) -> AsyncIterator[Normalized]:
        """Yield the records in event-time order, paced by ``speed``."""
        records = await asyncio.to_thread(self.records)
        if not records:
            return
        first_ns = records[0].ts_event
        started = self._clock()
        for batch in self._batches(records):
            if self.speed is not None:
                due = (batch[0].ts_event - first_ns) / _NS_PER_S / self.speed
                delay = due - (self._clock() - started)
                if delay > 0:
                    await self._sleep(delay)
            else:
                await asyncio.sleep(0)
            yield Normalized(batch)
