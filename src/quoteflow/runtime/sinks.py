"""Sinks that ship with the runtime."""

from __future__ import annotations

from typing import IO

import msgspec

from quoteflow.bus.base import Message, records_of
from quoteflow.events import DeadLetter
from quoteflow.reference import reference_json

__all__ = ["JsonLinesSink"]


class JsonLinesSink:
    """Write records as JSON lines: reference records with provider, type and instrument.

    Dead letters are written as they are, with ``"type": "dead_letters"``.
    """

    name = "jsonl"

    def __init__(self, topics: tuple[str, ...], stream: IO[str]) -> None:
        self.topics = topics
        self._stream = stream

    async def write(self, messages: list[Message]) -> None:
        """Write one line per record."""
        lines = []
        for record in records_of(messages):
            if isinstance(record, DeadLetter):
                data = {"type": DeadLetter.TOPIC, **msgspec.structs.asdict(record)}
                lines.append(msgspec.json.encode(data).decode())
            else:
                lines.append(reference_json(record, keyed=True).decode())
        self._stream.write("\n".join(lines) + "\n")

    async def close(self) -> None:
        """Flush the stream."""
        self._stream.flush()
