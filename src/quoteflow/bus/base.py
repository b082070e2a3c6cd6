"""The topic interface every bus implements: embedded memory now, Kafka later.

Topics are partitioned logs; a record's key (the instrument) picks its
partition, so all records of one instrument stay in order in one partition.
Consumers belong to a group; a group's members share the partitions, and each
group reads every record once. Offsets are per partition, as in Kafka.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import msgspec

__all__ = ["Bus", "Consumer", "Message"]


class Message(msgspec.Struct, frozen=True, gc=False):
    """One record on a topic, where it sits, and its key."""

    topic: str
    partition: int
    offset: int
    key: str
    value: Any


class Consumer(Protocol):
    """A member of a consumer group reading ``topics``."""

    topics: tuple[str, ...]

    async def poll(self, max_records: int = 1000, timeout_s: float = 1.0) -> list[Message]:
        """Return up to ``max_records`` records, waiting up to ``timeout_s`` for the first."""
        ...

    async def commit(self) -> None:
        """Mark everything returned by ``poll`` so far as processed."""
        ...

    async def close(self) -> None:
        """Leave the group; its partitions go to the remaining members."""
        ...


class Bus(Protocol):
    """Partitioned topics keyed by instrument.

    ``ordered_across_topics`` says whether a consumer of several topics gets
    their records in the order they were sent (the memory bus) or only each
    partition in order (Kafka); the runtime merges by event time in the latter.
    """

    ordered_across_topics: bool

    async def send(self, topic: str, key: str, value: Any) -> None:
        """Append one record; waits while the topic applies backpressure."""
        ...

    async def send_many(self, topic: str, records: Iterable[tuple[str, Any]]) -> None:
        """Append ``(key, value)`` records in order; waits while the topic applies backpressure."""
        ...

    def subscribe(self, group: str, topics: Sequence[str]) -> Consumer:
        """Join ``group`` as a new member reading ``topics``."""
        ...

    def lag(self, group: str) -> int:
        """Return how many records ``group`` has not yet committed, over all its topics."""
        ...

    async def close(self) -> None:
        """Release the bus; sends after this raise :class:`~quoteflow.errors.BusError`."""
        ...
