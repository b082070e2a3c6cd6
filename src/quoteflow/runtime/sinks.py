"""Sinks that ship with the runtime."""

from __future__ import annotations

import asyncio
from itertools import groupby
from operator import attrgetter
from pathlib import Path
from typing import IO, Any

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq

from quoteflow.bus.base import Message
from quoteflow.events import DeadLetter, to_batch
from quoteflow.reference import JsonLinesEncoder, reference_json

__all__ = ["JsonLinesSink", "RecordFilesSink"]


class JsonLinesSink:
    """Write records as JSON lines: reference records with provider, type and instrument.

    Dead letters are written as they are, with ``"type": "dead_letters"``.
    Arrow batches are encoded a batch at a time (:class:`JsonLinesEncoder`).
    ``stream`` takes bytes.
    """

    name = "jsonl"

    def __init__(self, topics: tuple[str, ...], stream: IO[bytes]) -> None:
        self.topics = topics
        self._stream = stream
        self._encoder = JsonLinesEncoder()

    async def write(self, messages: list[Message]) -> None:
        """Write one line per record, in the messages' order."""
        chunks = []
        for message in messages:
            value = message.value
            if isinstance(value, pa.RecordBatch):
                chunks.append(self._encoder.lines(value))
            elif isinstance(value, DeadLetter):
                data = {"type": DeadLetter.TOPIC, **msgspec.structs.asdict(value)}
                chunks.append(msgspec.json.encode(data) + b"\n")
            else:
                chunks.append(reference_json(value, keyed=True) + b"\n")
        self._stream.write(b"".join(chunks))

    async def close(self) -> None:
        """Flush the stream."""
        self._stream.flush()


class RecordFilesSink:
    """Write each topic's records to ``<directory>/<topic>.<format>``: Parquet or Arrow IPC files.

    Arrow batches go in as they come; records (bars, alerts, dead letters) are
    gathered into a batch per run of one topic. A file is started at its
    topic's first record and completed on :meth:`close`.
    """

    name = "files"

    def __init__(self, topics: tuple[str, ...], directory: Path, file_format: str) -> None:
        if file_format not in ("parquet", "arrow"):
            raise ValueError(f"unknown file format {file_format!r}; use parquet or arrow")
        self.topics = topics
        self.directory = directory
        self.format = file_format
        self._writers: dict[str, Any] = {}

    async def write(self, messages: list[Message]) -> None:
        """Append the messages' records to their topics' files.

        Encoding and compression run on a thread (they release the GIL), so the
        stages upstream keep working meanwhile.
        """
        batches: list[tuple[str, pa.RecordBatch]] = []
        for topic, run in groupby(messages, key=attrgetter("topic")):
            records: list[Any] = []
            for message in run:
                if isinstance(message.value, pa.RecordBatch):
                    self._gather(topic, records, batches)
                    batches.append((topic, message.value))
                else:
                    records.append(message.value)
            self._gather(topic, records, batches)
        await asyncio.to_thread(self._write_all, batches)

    @staticmethod
    def _gather(topic: str, records: list[Any], batches: list[tuple[str, pa.RecordBatch]]) -> None:
        if records:
            batches.append((topic, to_batch(records, type(records[0]))))
            records.clear()

    def _write_all(self, batches: list[tuple[str, pa.RecordBatch]]) -> None:
        for topic, batch in batches:
            self._write(topic, batch)

    def _write(self, topic: str, batch: pa.RecordBatch) -> None:
        writer = self._writers.get(topic)
        if writer is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / f"{topic}.{self.format}"
            if self.format == "parquet":
                writer = pq.ParquetWriter(path, batch.schema, compression="zstd")
            else:
                writer = pa.ipc.new_file(path, batch.schema)
            self._writers[topic] = writer
        writer.write_batch(batch)

    async def close(self) -> None:
        """Complete every file."""
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
