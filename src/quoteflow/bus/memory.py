"""Embedded topics: partitioned in-memory logs with consumer groups and backpressure.

A partition holds at most ``capacity`` records that some subscribed group has
not committed yet; a producer that would go past that waits until the slowest
group catches up, so memory stays bounded and nothing is dropped. A topic that
no group reads keeps its newest ``capacity`` records per partition, like a log
with size-based retention. Records count one each, whether sent alone or in an
Arrow batch (a batch larger than the free room goes in slices).
"""

from __future__ import annotations

import asyncio
import heapq
import zlib
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from itertools import islice
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from quoteflow.bus.base import Message, PartitionCommit, send_in_order
from quoteflow.errors import BusError

__all__ = ["MemoryBus", "MemoryConsumer", "MemoryStageSession"]

TopicPartition = tuple[str, int]


class _Partition:
    __slots__ = ("base", "log", "rows", "sequence", "space")

    def __init__(self) -> None:
        self.log: deque[Message] = deque()
        self.sequence: deque[int] = (
            deque()
        )  # the bus-wide send position of each message's first record
        self.base = 0
        self.rows = 0  # records in the log, batches counted by their rows
        self.space = asyncio.Event()
        self.space.set()

    @property
    def end(self) -> int:
        return self.base + len(self.log)

    def rows_from(self, offset: int) -> int:
        """Return the records held at ``offset`` and after."""
        if offset <= self.base:
            return self.rows
        return sum(m.rows for m in islice(self.log, offset - self.base, None))

    def drop_oldest(self) -> None:
        self.rows -= self.log.popleft().rows
        self.sequence.popleft()
        self.base += 1


class _Group:
    def __init__(self, name: str) -> None:
        self.name = name
        self.topics: set[str] = set()
        self.members: list[MemoryConsumer] = []
        self.positions: dict[TopicPartition, int] = {}
        self.committed: dict[TopicPartition, int] = {}


class MemoryBus:
    """In-process topics for the embedded runtime.

    ``partitions`` is the partition count of every topic; ``capacity`` the most
    uncommitted records per partition before producers wait (default 10,000).
    Records of one key always land in the same partition, in order. The default
    is one partition: one process reads every partition of an embedded bus, so
    more would only cut each Arrow batch into pieces (a ``take`` per piece,
    about a sixth of ``quoteflow enrich``'s time with 4). Partitions are how
    Kafka mode spreads work over processes (``[bus] partitions``).
    """

    ordered_across_topics = True
    durable = False
    carries_batches = True

    def __init__(self, *, partitions: int = 1, capacity: int = 10_000) -> None:
        if partitions < 1 or capacity < 1:
            raise ValueError("partitions and capacity must be >= 1")
        self.partitions = partitions
        self.capacity = capacity
        self._topics: dict[str, list[_Partition]] = {}
        self._groups: dict[str, _Group] = {}
        self._readers: dict[str, set[str]] = defaultdict(set)
        self._partition_of: dict[str, int] = {}
        self._sent = 0  # records sent so far: the next send position
        self._closed = False

    def _topic(self, name: str) -> list[_Partition]:
        partitions = self._topics.get(name)
        if partitions is None:
            partitions = self._topics[name] = [_Partition() for _ in range(self.partitions)]
        return partitions

    def partition_for(self, key: str) -> int:
        """Return the partition index that records with ``key`` go to."""
        index = self._partition_of.get(key)
        if index is None:
            index = self._partition_of[key] = zlib.crc32(key.encode()) % self.partitions
        return index

    def _free(self, topic: str, index: int) -> int:
        partition = self._topics[topic][index]
        groups = self._readers.get(topic)
        if not groups:
            return self.capacity
        slowest = min(self._groups[g].committed.get((topic, index), 0) for g in groups)
        return self.capacity - partition.rows_from(slowest)

    def _positions(self, records: int) -> int:
        """Reserve send positions for ``records``; return the first."""
        first = self._sent
        self._sent += records
        return first

    def _append(self, topic: str, index: int, messages: list[Message]) -> None:
        partition = self._topics[topic][index]
        partition.log.extend(messages)
        partition.rows += sum(m.rows for m in messages)
        for message in messages:
            if message.order is None:
                partition.sequence.append(self._positions(message.rows))
            else:
                partition.sequence.append(int(message.order[0]))
        if not self._readers.get(topic):
            while partition.rows > self.capacity and len(partition.log) > 1:
                partition.drop_oldest()
        for group in self._readers.get(topic, ()):
            for member in self._groups[group].members:
                member.wake.set()

    async def send(self, topic: str, key: str, value: Any) -> None:
        """Append one record; waits while the partition is full."""
        await self.send_many(topic, ((key, value),))

    async def send_many(self, topic: str, records: Iterable[tuple[str, Any]]) -> None:
        """Append ``(key, value)`` records, keeping their order within each key."""
        if self._closed:
            raise BusError("the bus is closed")
        partitions = self._topic(topic)
        pending: dict[int, list[tuple[str, Any]]] = defaultdict(list)
        known = self._partition_of
        for record in records:
            index = known.get(record[0])
            if index is None:
                index = self.partition_for(record[0])
            pending[index].append(record)
        for index, batch in pending.items():
            start = 0
            while start < len(batch):
                free = await self._room(topic, index)
                offset = partitions[index].end
                taken = enumerate(batch[start : start + free], offset)
                messages = [Message(topic, index, position, key, value)
                            for position, (key, value) in taken]  # fmt: skip
                self._append(topic, index, messages)
                start += free

    async def send_batch(self, topic: str, batch: pa.RecordBatch) -> None:
        """Append an Arrow batch of records, one message per partition its instruments go to."""
        if self._closed:
            raise BusError("the bus is closed")
        if not batch.num_rows:
            return
        partitions = self._topic(topic)
        for index, rows in self._split(batch):
            part = batch if rows is None else batch.take(pa.array(rows))
            start = 0
            while start < part.num_rows:
                free = await self._room(topic, index)
                piece = part.slice(start, free)
                key = piece.column("instrument")[0].as_py()
                message = Message(topic, index, partitions[index].end, key, piece, piece.num_rows)
                self._append(topic, index, [message])
                start += free

    async def send_interleaved(
        self, parts: Sequence[tuple[str, pa.RecordBatch]], order: np.ndarray
    ) -> None:
        """Append batches of several topics that form one stream, keeping its order.

        Each row gets its send position in the stream, so a reader of several of
        the topics can interleave them again (:func:`~quoteflow.bus.base.in_send_order`).
        The parts go in at once when every partition they go to has room: they may
        pass ``capacity`` by their own size.
        """
        if self._closed:
            raise BusError("the bus is closed")
        first = self._positions(len(order))
        pending: list[tuple[str, int, pa.RecordBatch, np.ndarray]] = []
        for number, (topic, batch) in enumerate(parts):
            self._topic(topic)
            positions = first + np.flatnonzero(order == number)
            for index, rows in self._split(batch):
                if rows is None:
                    pending.append((topic, index, batch, positions))
                else:
                    pending.append((topic, index, batch.take(pa.array(rows)), positions[rows]))
        for topic, index in {(topic, index) for topic, index, _, _ in pending}:
            await self._room(topic, index)
        for topic, index, part, positions in pending:
            key = part.column("instrument")[0].as_py()
            end = self._topics[topic][index].end
            self._append(topic, index, [Message(topic, index, end, key, part, part.num_rows,
                                                positions)])  # fmt: skip

    def _split(self, batch: pa.RecordBatch) -> list[tuple[int, np.ndarray | None]]:
        """Return the rows of ``batch`` per partition, in order (None: all of them)."""
        instruments = batch.column("instrument")
        names = pc.unique(instruments)
        targets = np.array([self.partition_for(n) for n in names.to_pylist()], dtype=np.int64)
        if len(set(targets.tolist())) == 1:
            return [(int(targets[0]), None)]
        rows = targets[pc.index_in(instruments, names).to_numpy()]
        return [(int(index), np.flatnonzero(rows == index)) for index in np.unique(rows)]

    async def _room(self, topic: str, index: int) -> int:
        """Wait until the partition has room; return how many records fit."""
        partition = self._topics[topic][index]
        while True:
            free = self._free(topic, index)
            if free > 0:
                return free
            partition.space.clear()
            await partition.space.wait()
            if self._closed:
                raise BusError("the bus was closed while waiting to send")

    def subscribe(self, group: str, topics: Sequence[str]) -> MemoryConsumer:
        """Join ``group`` reading ``topics`` from the oldest retained record."""
        if self._closed:
            raise BusError("the bus is closed")
        state = self._groups.get(group)
        if state is None:
            state = self._groups[group] = _Group(group)
        for topic in topics:
            for index, partition in enumerate(self._topic(topic)):
                state.positions.setdefault((topic, index), partition.base)
                state.committed.setdefault((topic, index), partition.base)
            state.topics.add(topic)
            self._readers[topic].add(group)
        consumer = MemoryConsumer(self, state, tuple(topics))
        state.members.append(consumer)
        self._rebalance(state)
        return consumer

    def stage_session(self, group: str, topics: Sequence[str]) -> MemoryStageSession:
        """Join ``group`` as a stage reading ``topics``; state stays in the process."""
        return MemoryStageSession(self, self.subscribe(group, topics))

    def _rebalance(self, group: _Group) -> None:
        assignments: list[TopicPartition] = [
            (topic, index) for topic in sorted(group.topics) for index in range(self.partitions)
        ]
        for member in group.members:
            member.assigned = []
        for i, tp in enumerate(assignments):
            group.members[i % len(group.members)].assigned.append(tp)
        for member in group.members:
            member.wake.set()

    def _leave(self, consumer: MemoryConsumer) -> None:
        group = consumer.group
        group.members.remove(consumer)
        for tp in consumer.assigned:
            group.positions[tp] = group.committed[tp]
        if group.members:
            self._rebalance(group)

    def _commit(
        self,
        group: _Group,
        tps: Iterable[TopicPartition],
        positions: Mapping[TopicPartition, int] | None = None,
    ) -> None:
        for topic, index in tps:
            position = (positions or group.positions).get((topic, index))
            if position is None:
                continue
            group.committed[(topic, index)] = position
            partition = self._topics[topic][index]
            slowest = min(
                self._groups[g].committed.get((topic, index), 0) for g in self._readers[topic]
            )
            while partition.base < slowest and partition.log:
                partition.drop_oldest()
            partition.space.set()

    def lag(self, group: str) -> int:
        """Return the records ``group`` has not committed yet, over all its topics."""
        state = self._groups.get(group)
        if state is None:
            return 0
        return sum(
            self._topics[topic][index].rows_from(committed)
            for (topic, index), committed in state.committed.items()
        )

    async def close(self) -> None:
        """Close the bus and wake every waiting producer and consumer."""
        self._closed = True
        for partitions in self._topics.values():
            for partition in partitions:
                partition.space.set()
        for group in self._groups.values():
            for member in group.members:
                member.wake.set()


class MemoryConsumer:
    """A member of a consumer group on a :class:`MemoryBus`; get one from ``subscribe``."""

    def __init__(self, bus: MemoryBus, group: _Group, topics: tuple[str, ...]) -> None:
        self._bus = bus
        self.group = group
        self.topics = topics
        self.assigned: list[TopicPartition] = []
        self.wake = asyncio.Event()
        self._closed = False

    def _take(self, max_records: int) -> list[Message]:
        """Return the next messages of the assigned partitions in the order they were sent.

        Merging by send order keeps a stage reading several topics (quotes and
        trades) in the order the feed published them, whatever the poll size.
        The messages hold ``max_records`` records or a little more (batches stay whole).
        """
        positions = self.group.positions
        runs = []
        for topic, index in self.assigned:
            partition = self._bus._topics[topic][index]
            position = max(positions[(topic, index)], partition.base)
            available = min(partition.end - position, max_records)
            if available > 0:
                start = position - partition.base
                runs.append(zip(islice(partition.sequence, start, start + available),
                                islice(partition.log, start, start + available),
                                strict=True))  # fmt: skip
                positions[(topic, index)] = position
        merged = runs[0] if len(runs) == 1 else heapq.merge(*runs, key=lambda item: item[0])
        out: list[Message] = []
        records = 0
        reached = -1  # the last send position taken: interleaved batches are taken whole
        for position, message in merged:
            if records >= max_records and position > reached:
                break
            out.append(message)
            records += message.rows
            last = position + message.rows - 1 if message.order is None else message.order[-1]
            reached = max(reached, int(last))
        for message in out:
            positions[(message.topic, message.partition)] = message.offset + 1
        return out

    async def poll(self, max_records: int = 1000, timeout_s: float = 1.0) -> list[Message]:
        """Return up to ``max_records`` records, waiting up to ``timeout_s`` for the first."""
        if self._closed:
            raise BusError("the consumer is closed")
        self.wake.clear()
        records = self._take(max_records)
        if records or self._bus._closed:
            return records
        try:
            await asyncio.wait_for(self.wake.wait(), timeout_s)
        except TimeoutError:
            return []
        return self._take(max_records)

    async def commit(self, positions: Mapping[TopicPartition, int] | None = None) -> None:
        """Commit the positions of everything polled so far, or the given ``positions``."""
        self._bus._commit(self.group, self.assigned, positions)

    async def close(self) -> None:
        """Leave the group; uncommitted records go back to the remaining members."""
        if not self._closed:
            self._closed = True
            self._bus._leave(self)


class MemoryStageSession:
    """A stage on the memory bus: outputs are sent in order, then the inputs committed."""

    keeps_state = False

    def __init__(self, bus: MemoryBus, consumer: MemoryConsumer) -> None:
        self.bus = bus
        self.consumer = consumer
        self.topics = consumer.topics

    async def poll(self, max_records: int = 1000, timeout_s: float = 1.0) -> list[Message]:
        """Return the next input records."""
        return await self.consumer.poll(max_records, timeout_s)

    def assigned(self) -> dict[int, bytes | None]:
        """Return nothing: state never leaves the process, so there is nothing to restore."""
        return {}

    def revoked(self) -> set[int]:
        """Return nothing (see :meth:`assigned`)."""
        return set()

    async def commit(
        self, partitions: Mapping[int, PartitionCommit], *, store_state: bool = False
    ) -> None:
        """Send every partition's outputs in order, then commit everything polled."""
        await send_in_order(
            self.bus, (out for commit in partitions.values() for out in commit.outputs)
        )
        await self.consumer.commit()

    async def close(self) -> None:
        """Leave the group."""
        await self.consumer.close()
