"""Replay recorded records from CSV or Parquet files, at recorded pace or as fast as possible.

Files are read as Arrow batches and merged by event time (ties keep the order
the files were given in); what goes out is columnar: each step is an
:class:`~quoteflow.events.Interleaved` stream of one batch per record type.
Memory follows the batch size, not the files, for files in event-time order;
a file that is not (checked on its ``ts_event`` column first) is read whole and
sorted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from quoteflow.errors import RecordFileError
from quoteflow.events import Event, Interleaved, batch_type
from quoteflow.feeds.base import Normalized
from quoteflow.formats.records import read_batches

__all__ = ["ReplayFeed"]

log = logging.getLogger("quoteflow.feeds")

_NS_PER_S = 1_000_000_000


class _Source:
    """One file's batches in event-time order, consumed from the front."""

    def __init__(self, path: Path, batch_size: int) -> None:
        self.path = path
        self._batches = _in_event_time(path, batch_size)
        self.batch: pa.RecordBatch | None = None
        self.ts = np.zeros(0, dtype=np.int64)
        self.kind: type[Event] | None = None
        self.refill()

    def refill(self) -> None:
        """Load the next batch once the current one is used up."""
        while self.batch is None or self.batch.num_rows == 0:
            batch = next(self._batches, None)
            if batch is None:
                self.batch = None
                return
            self.batch = batch
            self.kind = batch_type(batch.schema)
            self.ts = batch.column("ts_event").to_numpy().view(np.int64)

    def take_until(self, horizon: int) -> pa.RecordBatch | None:
        """Remove and return the rows with ``ts_event <= horizon``."""
        if self.batch is None:
            return None
        count = int(np.searchsorted(self.ts, horizon, side="right"))
        taken = self.batch.slice(0, count)
        self.batch, self.ts = self.batch.slice(count), self.ts[count:]
        self.refill()
        return taken if count else None


def _in_event_time(path: Path, batch_size: int) -> Iterator[pa.RecordBatch]:
    """Yield the file's batches in ``ts_event`` order (reading it whole if it is not sorted)."""
    if not path.is_file():
        raise RecordFileError(f"{path}: no such file")
    if path.name.lower().endswith(".parquet") and _parquet_in_event_time(path, batch_size):
        yield from read_batches(path, batch_size)
        return
    table = pa.Table.from_batches(list(read_batches(path, batch_size)))  # CSV: read whole anyway
    if not table.num_rows:
        return
    ts = table.column("ts_event").combine_chunks().cast(pa.int64()).to_numpy()
    if not _ascending(ts):
        log.warning("replay: %s is not in event-time order; sorting it in memory", path)
        table = table.take(pa.array(np.argsort(ts, kind="stable")))
    yield from table.combine_chunks().to_batches(batch_size)


def _parquet_in_event_time(path: Path, batch_size: int) -> bool:
    """Return whether a Parquet file's ``ts_event`` never goes back, reading that column only.

    The column is read a batch at a time, so the check costs one batch of memory.
    """
    last = np.iinfo(np.int64).min
    try:
        source = pq.ParquetFile(path, pre_buffer=False)
        for batch in source.iter_batches(batch_size, columns=["ts_event"]):
            ts = batch.column(0).cast(pa.int64()).to_numpy()
            if len(ts) and (ts[0] < last or not _ascending(ts)):
                return False
            last = ts[-1] if len(ts) else last
    except (pa.ArrowException, OSError) as exc:
        raise RecordFileError(f"{path}: cannot be read: {exc}") from exc
    return True


def _ascending(ts: np.ndarray) -> bool:
    """Return whether event times never go back."""
    return bool(np.all(ts[1:] >= ts[:-1]))


def _merged(pieces: list[pa.RecordBatch]) -> Interleaved:
    """Merge batches (each in event-time order, given in file order) into one stream.

    Ties keep the order of ``pieces``; rows of one record type go into one batch.
    """
    sizes = np.array([p.num_rows for p in pieces], dtype=np.int64)
    ts = np.concatenate([p.column("ts_event").to_numpy().view(np.int64) for p in pieces])
    piece_of = np.repeat(np.arange(len(pieces)), sizes)
    stream = np.argsort(ts, kind="stable")  # the concatenation is in file order: ties keep it
    kinds = list(dict.fromkeys(batch_type(p.schema) for p in pieces))
    kind_of_piece = np.array([kinds.index(batch_type(p.schema)) for p in pieces], dtype=np.int8)
    order = kind_of_piece[piece_of[stream]]
    batches = []
    for index in range(len(kinds)):
        mine = np.flatnonzero(kind_of_piece == index)
        if len(mine) == 1:
            batches.append(pieces[mine[0]])
            continue
        # a row's place among this kind's rows: its place in the concatenation, less the rows
        # of the other kinds' pieces before its own piece
        before = np.cumsum(sizes) - sizes
        before_mine = np.cumsum(np.where(kind_of_piece == index, sizes, 0)) - sizes
        rows = stream[order == index]
        local = rows - before[piece_of[rows]] + before_mine[piece_of[rows]]
        table = pa.Table.from_batches([pieces[i] for i in mine]).combine_chunks()
        batches.append(table.take(pa.array(local)).to_batches()[0])
    return Interleaved(tuple(batches), order)


class ReplayFeed:
    """Play the records of one or more files in ``ts_event`` order.

    Files are merged by event time (ties keep file order). With ``speed`` set,
    the gaps between records are kept, divided by ``speed`` (2.0 plays twice as
    fast); with ``speed=None`` records go out as fast as the pipeline takes
    them, up to ``batch_size`` per file at a time. Records due within
    ``window_ms`` of each other go out together. ``clock`` and ``sleep`` are
    injectable for tests.
    """

    name = "replay"

    def __init__(
        self,
        paths: Sequence[str | Path],
        *,
        speed: float | None = 1.0,
        window_ms: float = 10.0,
        batch_size: int = 65_536,
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

    def steps(self) -> Iterator[Interleaved]:
        """Yield the merged stream a step at a time: every record up to the next horizon.

        The horizon is the newest event time that every file still open has reached.
        """
        sources = [_Source(path, self.batch_size) for path in self.paths]
        while True:
            open_sources = [s for s in sources if s.batch is not None]
            if not open_sources:
                return
            horizon = min(int(s.ts[-1]) for s in open_sources)
            pieces = [p for s in open_sources if (p := s.take_until(horizon)) is not None]
            if pieces:
                yield _merged(pieces)

    async def stream(self) -> AsyncIterator[Normalized]:
        """Yield the records in event-time order, paced by ``speed``."""
        steps = self.steps()
        first_ns: int | None = None
        started = self._clock()
        while True:
            step = await asyncio.to_thread(next, steps, None)
            if step is None:
                return
            if self.speed is None:
                yield Normalized([], interleaved=step)
                continue
            ts = _stream_times(step)
            if first_ns is None:
                first_ns = int(ts[0])
            for start, stop in _windows(ts, self.window_ns):
                due = (int(ts[start]) - first_ns) / _NS_PER_S / self.speed
                delay = due - (self._clock() - started)
                if delay > 0:
                    await self._sleep(delay)
                yield Normalized([], interleaved=step.slice(start, stop))


def _stream_times(step: Interleaved) -> np.ndarray:
    """Return the event time of each record of ``step``, in the stream's order."""
    ts = np.empty(step.num_rows, dtype=np.int64)
    for index, batch in enumerate(step.batches):
        ts[step.order == index] = batch.column("ts_event").to_numpy().view(np.int64)
    return ts


def _windows(ts: np.ndarray, window_ns: int) -> Iterator[tuple[int, int]]:
    """Yield (start, stop) of runs whose records are due within ``window_ns`` of the first."""
    start = 0
    while start < len(ts):
        stop = int(np.searchsorted(ts, ts[start] + window_ns, side="left"))
        stop = max(stop, start + 1)
        yield start, stop
        start = stop
