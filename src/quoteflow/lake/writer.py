"""Recording topics into raw lake chunks: buffer per instrument-day, flush by size or age.

A chunk is flushed when its buffer reaches ``chunk_rows`` records or when its
oldest record has waited ``chunk_age_s`` seconds (wall clock). That is the
trade-off the docs explain: bigger and older chunks mean fewer, larger files
(cheaper to write, list and query), but a crash loses what is still buffered,
up to ``chunk_age_s`` of data, unless the feed can be replayed from the last
durable point or the replica ingester has it.

The writer counts the records it is given (their offsets in the input). After
every flush it knows the durable offset: every record before it is in a chunk.
:class:`~quoteflow.lake.LakeWriter` stores that offset in a checkpoint when it
has a name, so a restarted ingester can resume from it; records after the
durable point that were flushed already are written again, into chunks that
replace or duplicate the earlier ones, and coalescing drops the duplicates.
"""

from __future__ import annotations

import base64
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import partial

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from quoteflow.bus.base import Message
from quoteflow.events import Bar, DeadLetter, Event, arrow_schema, batch_type, to_batch
from quoteflow.formats.records import parquet_options
from quoteflow.lake._tables import one_string, take_rows
from quoteflow.lake.layout import (
    NS_PER_DAY,
    SOURCES,
    Partition,
    content_digest,
    dead_letter_path,
    lake_type,
    raw_chunk_path,
    utc_day,
)
from quoteflow.sinks.base import Sink
from quoteflow.storage import LakeRoot

__all__ = ["NULL_COLUMNS_KEY", "LakeSink", "LakeWriter", "chunk_bytes"]

NULL_COLUMNS_KEY = b"quoteflow.null_columns"
"""Key-value metadata of a lake file: JSON list of the columns that hold only nulls."""


def chunk_bytes(table: pa.Table, metadata: dict[bytes, bytes] | None = None) -> pa.Buffer:
    """Return ``table`` as Parquet bytes, as every lake file is written.

    With :func:`~quoteflow.formats.records.parquet_options` (zstd, delta-encoded
    timestamps, dictionaries where they pay). A column repeating one string (the
    provider, the instrument) is handed over as a one-entry dictionary, which
    spares the writer hashing every row. The
    Arrow schema stored in the file is the table's own, so every reader sees
    plain strings; its key-value metadata also names the all-null columns.
    Every page carries a CRC32 checksum, which the lake's readers verify: a
    damaged page is an error, never changed values. ``metadata`` is added to the
    file's key-value metadata.
    """
    columns = [_one_entry_dictionary(column) for column in table.columns]
    fields = [
        field.with_type(column.type) for field, column in zip(table.schema, columns, strict=True)
    ]
    encoded = pa.table(columns, schema=pa.schema(fields))
    sink = pa.BufferOutputStream()
    with pq.ParquetWriter(sink, encoded.schema, **parquet_options(table.schema),
                          store_schema=False, write_page_checksum=True) as writer:  # fmt: skip
        writer.write_table(encoded)
        writer.add_key_value_metadata({**_file_metadata(table), **(metadata or {})})
    return sink.getvalue()


def _file_metadata(table: pa.Table) -> dict[bytes, bytes]:
    """Return a file's key-value metadata: the schema as pyarrow stores it, the null columns.

    Parquet statistics cannot tell a list column of nulls from one of empty lists;
    naming the null columns lets coalescing skip decoding them.
    """
    schema = table.schema
    nulls = [name for name, column in zip(table.column_names, table.columns, strict=True)
             if column.null_count == len(column)]  # fmt: skip
    return {
        **(schema.metadata or {}),
        b"ARROW:schema": base64.b64encode(schema.serialize()),
        NULL_COLUMNS_KEY: msgspec.json.encode(nulls),
    }


def _one_entry_dictionary(column: pa.ChunkedArray) -> pa.ChunkedArray | pa.DictionaryArray:
    """Return ``column`` as a one-entry dictionary if it repeats one string, else unchanged."""
    value = one_string(column)
    if value is None:
        return column
    indices = pa.array(np.zeros(len(column), dtype=np.int8))
    return pa.DictionaryArray.from_arrays(indices, pa.array([value]))


class _Checkpoint(msgspec.Struct):
    offset: int


@dataclass
class _Buffer:
    first_offset: int
    started: float
    parts: list[pa.RecordBatch | list[Event | DeadLetter]] = field(default_factory=list)
    rows: int = 0


class LakeWriter:
    """Write records into raw chunks under ``root`` for ``source`` (primary or replica).

    ``checkpoint`` names the durable-offset file (``_checkpoints/source=<S>/<name>.json``);
    without it no offset is stored. Chunks due at the same time are encoded and
    written on up to ``threads`` threads (Parquet encoding and ``fsync`` release
    the GIL). ``max_buffered_rows`` bounds memory: past it, the largest buffers are
    written before they are full (default: 4 chunks' worth, at least 500,000 rows).
    """

    def __init__(
        self,
        root: LakeRoot,
        source: str = "primary",
        *,
        chunk_rows: int = 100_000,
        chunk_age_s: float = 60.0,
        checkpoint: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        threads: int = 2,
        max_buffered_rows: int | None = None,
    ) -> None:
        if source not in SOURCES:
            raise ValueError(f"source must be one of {', '.join(SOURCES)}, not {source!r}")
        if chunk_rows < 1 or chunk_age_s <= 0 or threads < 1:
            raise ValueError("chunk_rows and threads must be >= 1 and chunk_age_s > 0")
        self.root = root
        self.source = source
        self.chunk_rows = chunk_rows
        self.max_buffered_rows = max_buffered_rows or max(4 * chunk_rows, 500_000)
        self.chunk_age_s = chunk_age_s
        self.clock = clock
        self.offset = 0
        self.chunks_written = 0
        self._swept: set[str] = set()  # partition directories cleared of stale temporary files
        self.rows_written = 0
        self._checkpoint = (
            root.join(f"_checkpoints/source={source}/{checkpoint}.json") if checkpoint else None
        )
        self._buffers: dict[Partition, _Buffer] = {}
        self._partition_ids: dict[Partition, int] = {}
        self._partitions: list[Partition] = []  # by id
        self._pending: dict[str, list[tuple[pa.RecordBatch, np.ndarray]]] = {}
        self.threads = threads
        self._threads: ThreadPoolExecutor | None = None

    def durable_offset(self) -> int:
        """Return the input offset before which every record is in a written chunk."""
        return min((b.first_offset for b in self._buffers.values()), default=self.offset)

    def resume_offset(self) -> int:
        """Return the durable offset stored by an earlier run (0 if none)."""
        if self._checkpoint is None or not self.root.exists(self._checkpoint):
            return 0
        return msgspec.json.decode(self.root.read(self._checkpoint), type=_Checkpoint).offset

    def _buffer(self, partition: Partition, offset: int) -> _Buffer:
        buffer = self._buffers.get(partition)
        if buffer is None:
            buffer = self._buffers[partition] = _Buffer(offset, self.clock())
        return buffer

    def add(self, records: Sequence[Event | DeadLetter], topic: str | None = None) -> None:
        """Buffer records (any mix of types and instruments); ``topic`` names their type.

        Without ``topic`` each record's own type is used (bars: ``bars_<period>``).
        Dead letters go to their own chunks, by provider and day of receipt.
        """
        grouped: dict[Partition, list[Event | DeadLetter]] = {}
        offsets: dict[Partition, int] = {}
        for index, record in enumerate(records):
            if isinstance(record, DeadLetter):
                partition = Partition(record.provider, DeadLetter.TYPE, "",
                                      utc_day(record.ts_recv))  # fmt: skip
            else:
                partition = Partition(record.provider, lake_type(topic or _topic(record)),
                                      record.instrument, utc_day(record.ts_event))  # fmt: skip
            if partition not in grouped:
                grouped[partition] = []
                offsets[partition] = self.offset + index
            grouped[partition].append(record)
        for partition, group in grouped.items():
            buffer = self._buffer(partition, offsets[partition])
            buffer.parts.append(group)
            buffer.rows += len(group)
        self.offset += len(records)
        self._flush_full(grouped)

    def add_batch(self, batch: pa.RecordBatch, topic: str | None = None) -> None:
        """Buffer an Arrow batch of one record type, as :func:`~quoteflow.events.to_batch` makes.

        The batch is kept whole and only counted per partition; batches of a type
        are split by partition together, with one sort, when a chunk is due.
        """
        cls = batch_type(batch.schema)
        if cls is None:
            raise TypeError("the batch schema does not name a record type")
        if batch.num_rows == 0:
            return
        if topic is None and cls is Bar:
            topic = f"bars.{batch.column('period')[0].as_py()}"
        kind = lake_type(topic or cls.TYPE)
        ts = batch.column("ts_event").cast(pa.int64()).to_numpy()
        days = ts // NS_PER_DAY
        provider_names, provider_codes = _encoded(batch.column("provider"))
        instrument_names, instrument_codes = _encoded(batch.column("instrument"))
        first_day = int(days.min())
        local = (provider_codes.astype(np.int64) * len(instrument_names) + instrument_codes) * (
            int(days.max()) - first_day + 1
        ) + (days - first_day)
        codes, first_rows, counts = _groups(local)
        ids = np.empty(int(codes.max()) + 1, dtype=np.int64)
        touched = []
        for code, row, count in zip(
            codes.tolist(), first_rows.tolist(), counts.tolist(), strict=True
        ):
            partition = Partition(
                provider_names[provider_codes[row]],
                kind,
                instrument_names[instrument_codes[row]],
                utc_day(int(ts[row])),
            )
            if partition not in self._partition_ids:
                self._partition_ids[partition] = len(self._partitions)
                self._partitions.append(partition)
            ids[code] = self._partition_ids[partition]
            buffer = self._buffer(partition, self.offset + row)
            buffer.rows += count
            touched.append(partition)
        self._pending.setdefault(kind, []).append((batch, ids[local]))
        self.offset += batch.num_rows
        self._flush_full(touched)

    def _split(self, kind: str) -> None:
        """Move the pending batches of ``kind`` into their partitions' buffers, one sort for all."""
        pending = self._pending.pop(kind, [])
        if not pending:
            return
        table = pa.Table.from_batches([batch for batch, _ in pending])
        ids = np.concatenate([ids for _, ids in pending])
        if len(self._partition_ids) <= np.iinfo(np.uint16).max:
            ids = ids.astype(np.uint16)  # NumPy sorts 16-bit keys by radix: much faster
        order = np.argsort(ids, kind="stable")
        grouped = take_rows(table, order)
        sorted_ids = ids[order]
        starts = np.r_[0, np.flatnonzero(np.diff(sorted_ids)) + 1]
        for start, stop in zip(starts.tolist(), [*starts[1:].tolist(), len(order)], strict=True):
            partition = self._partitions[int(sorted_ids[start])]
            self._buffers[partition].parts.extend(grouped.slice(start, stop - start).to_batches())

    def _flush_full(self, partitions: Iterable[Partition]) -> None:
        """Flush the given buffers that reached ``chunk_rows`` (after all records are counted).

        When all buffers hold more than ``max_buffered_rows``, the largest go too,
        until half of that is left.
        """
        due = [p for p in dict.fromkeys(partitions) if self._buffers[p].rows >= self.chunk_rows]
        buffered = sum(b.rows for p, b in self._buffers.items() if p not in due)
        if buffered > self.max_buffered_rows:
            for partition, buffer in sorted(self._buffers.items(), key=lambda i: -i[1].rows):
                if buffered <= self.max_buffered_rows // 2:
                    break
                if partition not in due:
                    due.append(partition)
                    buffered -= buffer.rows
        self._flush_all(due)

    def tick(self) -> None:
        """Flush every buffer whose oldest record has waited ``chunk_age_s``."""
        now = self.clock()
        self._flush_all(
            [p for p, b in self._buffers.items() if now - b.started >= self.chunk_age_s]
        )

    def flush(self) -> None:
        """Flush every buffer."""
        self._flush_all(list(self._buffers))

    def close(self) -> None:
        """Stop the writing threads (what is still buffered stays buffered: flush first)."""
        if self._threads is not None:
            self._threads.shutdown()
            self._threads = None

    def _flush_all(self, partitions: list[Partition]) -> None:
        """Write the chunks of ``partitions``, encoded and written on threads; then the checkpoint.

        Every chunk is on storage when this returns; if one failed, its error is
        raised after the others are done.
        """
        if not partitions:
            return
        chunks = [self._chunk(partition) for partition in partitions]
        for path, _ in chunks:
            directory = path("").rsplit("/", 1)[0]
            if directory not in self._swept:  # what a killed writer left there
                self.root.remove_stale_temporaries(directory)
                self._swept.add(directory)
        if len(chunks) == 1 or self.threads == 1:
            for path, table in chunks:
                _write_chunk(self.root, path, table)
        else:
            if self._threads is None:
                self._threads = ThreadPoolExecutor(self.threads, thread_name_prefix="lake-writer")
            writes = [self._threads.submit(_write_chunk, self.root, path, table)
                      for path, table in chunks]  # fmt: skip
            wait(writes)
            for write in writes:
                write.result()
        self.chunks_written += len(chunks)
        self.rows_written += sum(table.num_rows for _, table in chunks)
        if self._checkpoint is not None:
            data = msgspec.json.encode(_Checkpoint(self.durable_offset()))
            self.root.write_atomic(self._checkpoint, data)

    def _chunk(self, partition: Partition) -> tuple[Callable[[str], str], pa.Table]:
        """Take ``partition``'s buffer out as one table sorted by event time, with its path.

        The path is a function of the digest of the chunk's bytes, known once encoded.
        """
        self._split(partition.type)
        buffer = self._buffers.pop(partition)
        batches = [
            part if isinstance(part, pa.RecordBatch) else to_batch(part, type(part[0]))
            for part in buffer.parts
        ]
        schema = arrow_schema(batch_type(batches[0].schema) or type(buffer.parts[0][0]))
        table = pa.Table.from_batches(
            [b if b.schema.equals(schema) else b.cast(schema) for b in batches], schema=schema
        )
        dead = partition.type == DeadLetter.TYPE
        time_column = "ts_recv" if dead else "ts_event"
        ts = table.column(time_column).cast(pa.int64()).to_numpy()
        if len(ts) > 1 and (ts[1:] < ts[:-1]).any():
            table = table.sort_by(time_column)
            ts = np.sort(ts)
        first, last = int(ts[0]), int(ts[-1])
        if dead:
            path = partial(dead_letter_path, self.source, partition.provider, partition.day,
                           first, last)  # fmt: skip
        else:
            path = partial(raw_chunk_path, self.source, partition, first, last)
        return path, table


def _write_chunk(root: LakeRoot, path: Callable[[str], str], table: pa.Table) -> None:
    """Encode ``table`` and write it where ``path(digest of its bytes)`` says."""
    data = chunk_bytes(table)
    root.write_atomic(root.join(path(content_digest(memoryview(data)))), data)


def _encoded(column: pa.Array) -> tuple[list[str], np.ndarray]:
    """Return a string column's distinct values and each row's index into them.

    A batch usually comes from one provider: a column repeating one string is
    recognised without hashing every row.
    """
    value = one_string(column)
    if value is not None:
        return [value], np.zeros(len(column), dtype=np.int32)
    encoded = pc.dictionary_encode(column)
    return encoded.dictionary.to_pylist(), encoded.indices.to_numpy()


def _groups(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the distinct ``codes`` (>= 0), the first row of each and how many rows have it.

    As ``np.unique(codes, return_index=True, return_counts=True)``, but counted in
    a table, which needs no sort, when the codes are few (a batch's instrument-days).
    """
    top = int(codes.max())
    if top > 4 * len(codes) + 4096:
        return np.unique(codes, return_index=True, return_counts=True)
    counts = np.bincount(codes, minlength=top + 1)
    distinct = np.flatnonzero(counts)
    first = np.full(top + 1, len(codes), dtype=np.int64)
    np.minimum.at(first, codes, np.arange(len(codes)))
    return distinct, first[distinct], counts[distinct]


def _topic(record: Event) -> str:
    return f"bars.{record.period}" if record.TYPE == "bars" else record.TYPE  # type: ignore[attr-defined]


class LakeSink(Sink):
    """A pipeline sink that records ``topics`` with a :class:`LakeWriter`.

    :meth:`durable_positions` tells the pipeline how far each input partition
    is in written chunks; on a durable bus (Kafka) only that much is committed,
    so a crash re-reads what was still buffered instead of losing it. Records the
    bus delivers again to the same sink (after a rebalance gave it the partition
    back from the committed offset) are skipped: they are buffered or written.
    """

    name = "lake"

    def __init__(self, topics: tuple[str, ...], writer: LakeWriter) -> None:
        self.topics = topics
        self.writer = writer
        self._read: dict[tuple[str, int], int] = {}
        # per input partition, in writer order: (writer offset after the record, its offset)
        self._buffered: dict[tuple[str, int], deque[tuple[int, int]]] = defaultdict(deque)

    async def write(self, messages: list[Message]) -> None:
        """Buffer the messages' records; flush the chunks that are full."""
        by_topic: dict[str, list[Message]] = {}
        for message in messages:
            where = (message.topic, message.partition)
            if message.offset < self._read.get(where, 0):
                continue  # delivered again (a rebalance gave the partition back): already taken
            self._read[where] = message.offset + 1
            if isinstance(message.value, pa.RecordBatch | Event | DeadLetter):
                by_topic.setdefault(message.topic, []).append(message)
        for topic, group in by_topic.items():
            events: list[Event | DeadLetter] = []
            end = self.writer.offset
            for message in group:
                value = message.value
                end += value.num_rows if isinstance(value, pa.RecordBatch) else 1
                self._buffered[(topic, message.partition)].append((end, message.offset))
                if isinstance(value, pa.RecordBatch):
                    self._add_events(events, topic)
                    self.writer.add_batch(value, topic)
                else:
                    events.append(value)
            self._add_events(events, topic)

    def _add_events(self, events: list[Event | DeadLetter], topic: str) -> None:
        if events:
            self.writer.add(events, topic)
            events.clear()

    def durable_positions(self) -> dict[tuple[str, int], int]:
        """Return, per input partition, the offset before which every record is in a chunk."""
        durable = self.writer.durable_offset()
        positions = dict(self._read)
        for where, buffered in self._buffered.items():
            while buffered and buffered[0][0] <= durable:
                buffered.popleft()
            if buffered:
                positions[where] = buffered[0][1]
        return positions

    async def tick(self) -> None:
        """Flush the chunks whose oldest record has waited long enough (called after each poll)."""
        self.writer.tick()

    async def close(self) -> None:
        """Flush everything still buffered."""
        self.writer.flush()
        self.writer.close()
        self._buffered.clear()
