"""The topic interface every bus implements: embedded memory now, Kafka later.

Topics are partitioned logs; a record's key (the instrument) picks its
partition, so all records of one instrument stay in order in one partition.
Consumers belong to a group; a group's members share the partitions, and each
group reads every record once. Offsets are per partition, as in Kafka.

A message holds one record, or an Arrow batch of records of one type (the
topic's) whose instruments all belong to the message's partition; ``rows``
says how many. :func:`records_of` gives the records of either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter
from typing import Any, Protocol

import msgspec
import numpy as np
import pyarrow as pa

from quoteflow.events import Interleaved, from_batch

__all__ = [
    "Bus",
    "Consumer",
    "Message",
    "PartitionCommit",
    "StageSession",
    "in_send_order",
    "records_of",
    "send_in_order",
]


class Message(msgspec.Struct, frozen=True, gc=False):
    """One record or one Arrow batch of records on a topic, where it sits, and its key.

    A batch's key is the instrument of its first row (all its rows share the
    partition); ``rows`` is its number of records (1 for a record). ``order``
    holds, for a batch sent interleaved with batches of other topics, the
    bus-wide send position of each of its rows (see :func:`in_send_order`).
    """

    topic: str
    partition: int
    offset: int
    key: str
    value: Any
    rows: int = 1
    order: Any = None


def in_send_order(messages: Sequence[Message]) -> list[Any]:
    """Return the messages' values for an operator; interleaved batches as one :class:`Interleaved`.

    Batches sent interleaved (:meth:`Bus.send_interleaved`) whose rows overlap
    in send order become one value that keeps the order between their records.
    """
    values: list[Any] = []
    i = 0
    while i < len(messages):
        first = messages[i]
        j = i + 1
        if first.order is not None:
            last = first.order[-1]
            while (
                j < len(messages) and messages[j].order is not None and messages[j].order[0] < last
            ):
                last = max(last, messages[j].order[-1])
                j += 1
        if j == i + 1:
            values.append(first.value)
        else:
            group = messages[i:j]
            positions = np.concatenate([m.order for m in group])
            batch_of = np.concatenate(
                [np.full(m.rows, k, dtype=np.int8) for k, m in enumerate(group)]
            )
            order = batch_of[np.argsort(positions, kind="stable")]
            values.append(Interleaved(tuple(m.value for m in group), order))
        i = j
    return values


def records_of(messages: Iterable[Message]) -> list[Any]:
    """Return the records the messages hold, Arrow batches as their records, in order."""
    records: list[Any] = []
    for message in messages:
        value = message.value
        if isinstance(value, pa.RecordBatch):
            records.extend(from_batch(value))
        else:
            records.append(value)
    return records


class Consumer(Protocol):
    """A member of a consumer group reading ``topics``."""

    topics: tuple[str, ...]

    async def poll(self, max_records: int = 1000, timeout_s: float = 1.0) -> list[Message]:
        """Return up to ``max_records`` records, waiting up to ``timeout_s`` for the first."""
        ...

    async def commit(self, positions: Mapping[tuple[str, int], int] | None = None) -> None:
        """Mark everything returned by ``poll`` so far as processed.

        ``positions`` commits only up to the given next offsets per (topic, partition)
        instead, for a reader that keeps records in flight (the lake's open chunks).
        """
        ...

    async def close(self) -> None:
        """Leave the group; its partitions go to the remaining members."""
        ...


@dataclass
class PartitionCommit:
    """What a stage finished for one partition number in one round.

    ``outputs`` are ``(topic, key, value)`` records; ``snapshot`` returns the
    operator's state after them as bytes (for buses that keep state, else
    ``None``; the session calls it only when it stores the state, which may be
    less often than every round); ``held`` maps an input topic to the offset of
    its first record the stage has read but not yet processed (held back by the
    event-time merge).
    """

    outputs: list[tuple[str, str, Any]] = field(default_factory=list)
    snapshot: Callable[[], bytes] | None = None
    held: dict[str, int] = field(default_factory=dict)


class StageSession(Protocol):
    """A stage's link to the bus: read its inputs, then publish and commit per partition.

    On a bus with ``keeps_state``, partitions move between processes with their
    state: :meth:`assigned` hands over the state snapshot of each partition this
    process just got, and :meth:`commit` stores outputs, the new snapshot and
    the input offsets together, or none of them.
    """

    topics: tuple[str, ...]
    keeps_state: bool

    async def poll(self, max_records: int = 1000, timeout_s: float = 1.0) -> list[Message]:
        """Return up to ``max_records`` input records, waiting up to ``timeout_s`` for the first."""
        ...

    def assigned(self) -> dict[int, bytes | None]:
        """Return the partitions received since the last call with their restored snapshots."""
        ...

    def revoked(self) -> set[int]:
        """Return the partitions given away since the last call."""
        ...

    async def commit(
        self, partitions: Mapping[int, PartitionCommit], *, store_state: bool = False
    ) -> None:
        """Publish each partition's outputs and commit its inputs up to what was processed.

        A session that keeps state may store snapshots and commit inputs only
        every so often; ``store_state`` makes it do so now (a stage that stops).
        """
        ...

    async def close(self) -> None:
        """Leave the group."""
        ...


class Bus(Protocol):
    """Partitioned topics keyed by instrument.

    ``ordered_across_topics`` says whether a consumer of several topics gets
    their records in the order they were sent (the memory bus) or only each
    partition in order (Kafka); the runtime merges by event time in the latter.
    ``durable`` says whether records outlive the process, so that a reader must
    commit only what it has itself made durable (the lake's written chunks).
    ``carries_batches`` says whether an Arrow batch travels as one message (else
    :meth:`send_batch` sends its records one by one).
    """

    ordered_across_topics: bool
    durable: bool
    carries_batches: bool

    async def send(self, topic: str, key: str, value: Any) -> None:
        """Append one record; waits while the topic applies backpressure."""
        ...

    async def send_many(self, topic: str, records: Iterable[tuple[str, Any]]) -> None:
        """Append ``(key, value)`` records in order; waits while the topic applies backpressure."""
        ...

    async def send_batch(self, topic: str, batch: pa.RecordBatch) -> None:
        """Append an Arrow batch of records keyed by their instrument, keeping their order."""
        ...

    async def send_interleaved(
        self, parts: Sequence[tuple[str, pa.RecordBatch]], order: Any
    ) -> None:
        """Append batches of several topics that form one stream (``order`` as in Interleaved).

        A bus ordered across topics keeps the order between their records for
        readers of several of the topics; others send them as separate batches.
        """
        ...

    def subscribe(self, group: str, topics: Sequence[str]) -> Consumer:
        """Join ``group`` as a new member reading ``topics``."""
        ...

    def stage_session(self, group: str, topics: Sequence[str]) -> StageSession:
        """Join ``group`` as a stage reading ``topics`` and publishing its outputs."""
        ...

    def lag(self, group: str) -> int:
        """Return how many records ``group`` has not yet committed, over all its topics."""
        ...

    async def close(self) -> None:
        """Release the bus; sends after this raise :class:`~quoteflow.errors.BusError`."""
        ...


_topic_of = itemgetter(0)


async def send_in_order(bus: Bus, records: Iterable[tuple[str, str, Any]]) -> dict[str, int]:
    """Send ``(topic, key, value)`` records keeping their order, also across topics.

    Runs of one topic go out together, so a reader of several topics on an
    ordered bus sees them as they were produced. A value may be an Arrow batch
    (its key is not used: each row goes by its instrument). Returns the count
    of records per topic.
    """
    sent: dict[str, int] = {}
    for topic, run in groupby(records, key=_topic_of):
        pairs: list[tuple[str, Any]] = []
        for _, key, value in run:
            if isinstance(value, pa.RecordBatch):
                if pairs:
                    await bus.send_many(topic, pairs)
                    sent[topic] = sent.get(topic, 0) + len(pairs)
                    pairs = []
                await bus.send_batch(topic, value)
                sent[topic] = sent.get(topic, 0) + value.num_rows
            else:
                pairs.append((key, value))
        if pairs:
            await bus.send_many(topic, pairs)
            sent[topic] = sent.get(topic, 0) + len(pairs)
    return sent
