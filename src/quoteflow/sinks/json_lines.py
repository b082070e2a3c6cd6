"""JSON lines out: reference records with provider, type and instrument."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import IO, Any

import msgspec
import pyarrow as pa

from quoteflow.bus.base import Message
from quoteflow.events import DeadLetter
from quoteflow.formats.reference import JsonLinesEncoder, reference_json
from quoteflow.sinks.base import Sink

__all__ = ["JsonLinesSink"]


class JsonLinesSink(Sink):
    """Write records as JSON lines: reference records with provider, type and instrument.

    Dead letters are written as they are, with ``"type": "dead_letters"``.
    Arrow batches are encoded a batch at a time (:class:`JsonLinesEncoder`), up
    to ``encoders`` polls at once on threads (the encoder's compiled loops
    release the GIL); lines are written in the order the records came.
    ``stream`` takes bytes.
    """

    name = "jsonl"

    def __init__(self, topics: tuple[str, ...], stream: IO[bytes], *, encoders: int = 2) -> None:
        if encoders < 1:
            raise ValueError("encoders must be >= 1")
        self.topics = topics
        self.encoders = encoders
        self._stream = stream
        self._encoder = JsonLinesEncoder()
        self._encoding: deque[asyncio.Future[list[bytes]]] = deque()

    async def write(self, messages: list[Message]) -> None:
        """Start encoding the messages' records; write those encoded before, in order."""
        values = [message.value for message in messages]
        self._encoding.append(asyncio.ensure_future(asyncio.to_thread(self._encode, values)))
        while len(self._encoding) >= self.encoders:
            await asyncio.to_thread(self._write, await self._encoding.popleft())

    def _encode(self, values: list[Any]) -> list[bytes]:
        chunks = []
        for value in values:
            if isinstance(value, pa.RecordBatch):
                chunks.append(self._encoder.lines(value))
            elif isinstance(value, DeadLetter):
                data = {"type": DeadLetter.TOPIC, **msgspec.structs.asdict(value)}
                chunks.append(msgspec.json.encode(data) + b"\n")
            else:
                chunks.append(reference_json(value, keyed=True) + b"\n")
        return chunks

    def _write(self, chunks: list[bytes]) -> None:
        for chunk in chunks:
            self._stream.write(chunk)

    async def close(self) -> None:
        """Write what is being encoded and flush the stream."""
        while self._encoding:
            await asyncio.to_thread(self._write, await self._encoding.popleft())
        self._stream.flush()
