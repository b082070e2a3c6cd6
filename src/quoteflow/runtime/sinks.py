"""Sinks that ship with the runtime."""

from __future__ import annotations

from typing import IO

import msgspec
import pyarrow as pa

from quoteflow.bus.base import Message
from quoteflow.events import DeadLetter
from quoteflow.reference import JsonLinesEncoder, reference_json

__all__ = ["JsonLinesSink"]


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
