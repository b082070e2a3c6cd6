"""A stage on Kafka: each partition's round committed with its state, kept in a changelog topic.

``stage_commit = "transaction"`` (the default):

For each input partition number it owns, a stage process holds a transactional
producer with the id ``quoteflow.<group>.<partition>``. One round of work on a
partition is one transaction holding, in this order:

1. the outputs, each with a ``qf-seq`` header numbering the records of its
   topic and key (1, 2, ...);
2. a snapshot of the partition's state on the compacted topic
   ``<group>.changelog`` (same partition number), with the input offsets it
   has consumed up to and the last sequence numbers;
3. the same input offsets, committed for the consumer group with
   ``send_offsets_to_transaction``.

When Kafka assigns a partition, the new owner opens the producer of that id
first, which fences the previous owner and aborts its open transaction, then
reads the partition's latest snapshot and resumes the inputs at the offsets in
it. Operator state moves with its partition and read_committed readers see
every output once.

Some Kafka-protocol brokers fall short on transactions: they keep commits
atomic and fence, but show the records of an *aborted* transaction to
read_committed readers. Two rules keep the guarantee there too:

* outputs are flushed to the broker before the snapshot that counts them, so a
  visible snapshot, even of an aborted transaction, comes after all of its
  outputs, and resuming from it repeats nothing and skips nothing;
* outputs of a transaction cut short before its snapshot (a kill -9) are
  produced again with the same sequence numbers (a stage replays the same
  inputs from the same state), and readers drop a record whose number is not
  above the last one they read for its topic and key
  (:class:`~quoteflow.bus.kafka.KafkaConsumer` does).

``stage_commit = "idempotent"`` uses no transactions and relies on those two
rules alone: one idempotent producer publishes every round's outputs as they
come. Every ``commit_interval_ms`` (and when the stage stops) it waits until
the broker has them, then publishes the snapshots of the partitions that moved
and commits their offsets without waiting. Outputs are readable as soon as they
are stored (lower latency); after a crash the next owner repeats up to one
interval of outputs, which readers drop by their sequence numbers. Partitions
handed to another process in a rebalance are repeated the same way.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, NamedTuple, Protocol, cast

import msgspec
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)

from quoteflow.bus.base import Message, PartitionCommit
from quoteflow.bus.codec import SCHEMA_HEADER, SEQUENCE_HEADER, TopicCodec
from quoteflow.bus.kafka.messages import header
from quoteflow.errors import BusError

__all__ = ["KafkaStageSession", "StageBus", "changelog_topic"]

_log = logging.getLogger(__name__)
_CHANGELOG_CONFIG = {"cleanup.policy": "compact"}
_STATE_SCHEMA = b"msgpack/state/1"
_TIMEOUT_S = 30.0


class StageBus(Protocol):
    """What a stage session needs of its bus (:class:`~quoteflow.bus.kafka.KafkaBus`)."""

    codec: TopicCodec
    stage_commit: str
    commit_interval_ms: int

    def ensure_topics(self, topics: Iterable[str], config: Mapping[str, str] | None = None) -> None:
        """Create the topics that do not exist yet."""
        ...

    def producer_settings(self, extra: Mapping[str, Any]) -> dict[str, Any]:
        """Return librdkafka producer settings with ``extra``."""
        ...

    def consumer_settings(self, group: str) -> dict[str, Any]:
        """Return librdkafka consumer settings for ``group``."""
        ...

    def delivered(self, error: KafkaError | None, message: Any,
                  failed: list[KafkaError] | None = None) -> None:  # fmt: skip
        """Count a delivery report; a failure goes to ``failed``."""
        ...

    def committed(self, group: str, positions: Mapping[tuple[str, int], int]) -> None:
        """Note the positions ``group`` committed (for lag)."""
        ...

    async def receive(self, consumer: Consumer, max_records: int, timeout_s: float,
                      reader: str) -> list[tuple[Any, Message]]:  # fmt: skip
        """Consume a batch; return each raw message with its decoded message."""
        ...


def changelog_topic(group: str) -> str:
    """Return the changelog topic of a stage's consumer group (``stage:enrich`` -> ...)."""
    return f"quoteflow.{group.replace(':', '-')}.changelog"


class _Snapshot(msgspec.Struct, array_like=True):
    state: bytes
    positions: dict[str, int]  # input topic -> next offset to read
    sequences: dict[str, dict[str, int]]  # output topic -> key -> last sequence number


class _Owned:
    """A partition number this process owns: its producer, input positions and sequences.

    ``delivered`` is the delivery report of its outputs: the bus's, which counts
    what reached the broker, with the outputs that failed kept in ``failed`` so
    that no snapshot counts them.
    """

    def __init__(self, producer: Producer, snapshot: _Snapshot | None, bus: StageBus) -> None:
        self.producer = producer
        self.positions = dict(snapshot.positions) if snapshot else {}
        self.sequences = snapshot.sequences if snapshot else {}
        self.failed: list[KafkaError] = []
        self.delivered = partial(bus.delivered, failed=self.failed)


class _Round(NamedTuple):
    """What a partition publishes in one commit, and its state if stored with it."""

    owned: _Owned
    work: PartitionCommit
    snapshot: bytes | None


class KafkaStageSession:
    """A stage's consumer group member on a :class:`~quoteflow.bus.kafka.KafkaBus`."""

    keeps_state = True

    def __init__(self, bus: StageBus, group: str, topics: Sequence[str]) -> None:
        self.bus = bus
        self.group = group
        self.topics = tuple(topics)
        self.changelog = changelog_topic(group)
        bus.ensure_topics([self.changelog], _CHANGELOG_CONFIG)
        self._owned: dict[int, _Owned] = {}
        self._assigned: dict[int, bytes | None] = {}
        self._revoked: set[int] = set()
        self.transactional = bus.stage_commit == "transaction"
        self._store_interval_s = 0.0 if self.transactional else bus.commit_interval_ms / 1000
        self._next_store = time.monotonic()
        self._moved: set[int] = set()  # partitions read or published since their last snapshot
        self._shared = (  # idempotent mode: one producer for every partition
            None if self.transactional else Producer(bus.producer_settings({}))
        )
        self._workers = ThreadPoolExecutor(thread_name_prefix=f"{group}-commit")
        self._decoder = msgspec.msgpack.Decoder(_Snapshot)
        self._encoder = msgspec.msgpack.Encoder()
        self._consumer = Consumer(bus.consumer_settings(group))
        self._consumer.subscribe(
            list(self.topics), on_assign=self._on_assign, on_revoke=self._on_revoke
        )

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Fence the previous owners, restore state and resume where the snapshots say."""
        numbers = sorted({tp.partition for tp in partitions})
        producers = {n: self._producer(n) for n in numbers} if self.transactional else {}
        snapshots = self._restore(numbers)
        for tp in partitions:
            snapshot = snapshots.get(tp.partition)
            if snapshot is not None and tp.topic in snapshot.positions:
                tp.offset = snapshot.positions[tp.topic]
        consumer.assign(partitions)
        for n in numbers:
            snapshot = snapshots.get(n)
            self._owned[n] = _Owned(producers.get(n, self._shared), snapshot, self.bus)
            self._assigned[n] = snapshot.state if snapshot else None
        _log.info("%s: assigned partitions %s, state of %d restored from %s",
                  self.group, numbers, len(snapshots), self.changelog)  # fmt: skip

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Hand partitions back; every round is committed, so nothing is in flight."""
        numbers = sorted({tp.partition for tp in partitions})
        for n in numbers:
            self._owned.pop(n, None)
            self._assigned.pop(n, None)
            self._moved.discard(n)
            self._revoked.add(n)
        _log.info("%s: handed back partitions %s", self.group, numbers)

    def _producer(self, partition: int) -> Producer:
        producer = Producer(
            self.bus.producer_settings({"transactional.id": f"quoteflow.{self.group}.{partition}"})
        )
        try:
            producer.init_transactions(_TIMEOUT_S)
        except KafkaException as exc:
            raise BusError(f"{self.group}: cannot start transactions: {exc}") from exc
        return producer

    def _restore(self, numbers: list[int]) -> dict[int, _Snapshot]:
        """Read the latest snapshot of each partition number from the changelog."""
        if not numbers:
            return {}
        reader = Consumer({**self.bus.consumer_settings(f"{self.group}.restore"),
                           "enable.partition.eof": True})  # fmt: skip
        reader.assign([TopicPartition(self.changelog, n, OFFSET_BEGINNING) for n in numbers])
        latest: dict[int, Any] = {}
        pending = set(numbers)
        deadline = time.monotonic() + _TIMEOUT_S
        try:
            while pending:
                if time.monotonic() > deadline:
                    raise BusError(f"{self.changelog}: not read to its end in {_TIMEOUT_S:g} s")
                for message in reader.consume(1000, 0.2):
                    error = message.error()
                    if error is None:
                        latest[message.partition()] = message
                    elif error.code() == KafkaError._PARTITION_EOF:
                        pending.discard(message.partition())
                    else:
                        raise BusError(f"{self.changelog}: {error}")
        finally:
            reader.close()
        return {n: self._decode(message) for n, message in latest.items()}

    def _decode(self, message: Any) -> _Snapshot:
        schema = header(message, SCHEMA_HEADER)
        if schema != _STATE_SCHEMA:
            raise BusError(
                f"{self.changelog}: state snapshot of schema {schema!r}; this quoteflow reads "
                f"{_STATE_SCHEMA.decode()} only"
            )
        try:
            return self._decoder.decode(message.value())
        except msgspec.DecodeError as exc:
            raise BusError(f"{self.changelog}: unreadable state snapshot: {exc}") from exc

    async def poll(self, max_records: int = 1000, timeout_s: float = 1.0) -> list[Message]:
        """Return up to ``max_records`` input records of the partitions this process owns."""
        out = []
        for _, decoded in await self.bus.receive(self._consumer, max_records, timeout_s,
                                                 self.group):  # fmt: skip
            owned = self._owned.get(decoded.partition)
            if owned is None:
                continue
            owned.positions[decoded.topic] = decoded.offset + 1
            self._moved.add(decoded.partition)
            out.append(decoded)
        return out

    def assigned(self) -> dict[int, bytes | None]:
        """Return the partitions received since the last call with their restored state."""
        assigned, self._assigned = self._assigned, {}
        return assigned

    def revoked(self) -> set[int]:
        """Return the partitions given away since the last call."""
        revoked, self._revoked = self._revoked, set()
        return revoked

    async def commit(
        self, partitions: Mapping[int, PartitionCommit], *, store_state: bool = False
    ) -> None:
        """Publish the partitions' outputs; store the state of those due, with their offsets.

        In a transaction per partition and round, or (idempotent) every
        ``commit_interval_ms`` and with ``store_state``.
        """
        store = store_state or time.monotonic() >= self._next_store
        rounds: dict[int, _Round] = {}
        for n, work in partitions.items():
            owned = self._owned.get(n)
            if owned is None:
                continue
            if work.outputs:
                self._moved.add(n)
            stored = store and n in self._moved and work.snapshot is not None
            if work.outputs or stored:
                snapshot = cast(Callable[[], bytes], work.snapshot)() if stored else None
                rounds[n] = _Round(owned, work, snapshot)
        if not rounds:
            return
        self.bus.ensure_topics({t for r in rounds.values() for t, _, _ in r.work.outputs})
        await asyncio.to_thread(self._commit, rounds)
        stored = [n for n, r in rounds.items() if r.snapshot is not None]
        if stored:
            self._moved.difference_update(stored)
            self._next_store = time.monotonic() + self._store_interval_s

    def _commit(self, rounds: Mapping[int, _Round]) -> None:
        if self.transactional:
            self._transactions(rounds)
        else:
            self._idempotent(rounds)

    def _transactions(self, rounds: Mapping[int, _Round]) -> None:
        """Run the partitions' transactions side by side: each is a few broker round trips."""
        metadata = self._consumer.consumer_group_metadata()
        futures = {
            n: self._workers.submit(self._transaction, n, r, metadata) for n, r in rounds.items()
        }
        for n, future in futures.items():
            try:
                positions = future.result()
            except KafkaException as exc:
                raise BusError(f"{self.group}: transaction of partition {n} failed: {exc}") from exc
            self.bus.committed(self.group, {(t, n): o for t, o in positions.items()})

    def _transaction(self, n: int, r: _Round, metadata: Any) -> dict[str, int]:
        """Publish one partition's round and commit it; return the input offsets committed."""
        positions = {**r.owned.positions, **r.work.held}
        producer = r.owned.producer
        producer.begin_transaction()
        self._publish(r.owned, r.work)
        if r.work.outputs and producer.flush(_TIMEOUT_S):
            raise BusError(f"{self.group}: outputs of partition {n} not delivered in time")
        self._check_delivered(n, r.owned)
        self._snapshot(n, r.owned, r.snapshot or b"", positions)
        offsets = [TopicPartition(topic, n, offset) for topic, offset in positions.items()]
        if offsets:
            producer.send_offsets_to_transaction(offsets, metadata, _TIMEOUT_S)
        producer.commit_transaction(_TIMEOUT_S)
        return positions

    def _idempotent(self, rounds: Mapping[int, _Round]) -> None:
        """Publish outputs, and once the broker has them, the snapshots that count them.

        No transaction: outputs are readable as soon as they are stored. After a
        crash the next owner resumes from the last stored snapshot and produces
        the outputs after it again, with the same sequence numbers; readers drop them.
        """
        for r in rounds.values():
            self._publish(r.owned, r.work)
        shared = cast(Producer, self._shared)
        stored = {n: r for n, r in rounds.items() if r.snapshot is not None}
        if not stored:
            shared.poll(0)
            return
        if shared.flush(_TIMEOUT_S):
            raise BusError(f"{self.group}: outputs not delivered in {_TIMEOUT_S:g} s")
        for n, r in stored.items():
            self._check_delivered(n, r.owned)
        offsets = []
        for n, r in stored.items():
            positions = {**r.owned.positions, **r.work.held}
            self._snapshot(n, r.owned, cast(bytes, r.snapshot), positions)
            offsets += [TopicPartition(topic, n, offset) for topic, offset in positions.items()]
            self.bus.committed(self.group, {(t, n): o for t, o in positions.items()})
        shared.poll(0)
        if offsets:
            self._consumer.commit(offsets=offsets, asynchronous=True)

    def _publish(self, owned: _Owned, work: PartitionCommit) -> None:
        """Produce a round's outputs, numbered per topic and key."""
        for topic, key, value in work.outputs:
            numbers = owned.sequences.setdefault(topic, {})
            sequence = numbers[key] = numbers.get(key, 0) + 1
            for target, payload, schema in self.bus.codec.encode(topic, value):
                headers = [(SCHEMA_HEADER, schema), (SEQUENCE_HEADER, str(sequence).encode())]
                _produce(owned.producer, target, payload, key.encode(), headers,
                         owned.delivered)  # fmt: skip

    def _check_delivered(self, n: int, owned: _Owned) -> None:
        """Raise if an output of partition ``n`` failed: its snapshot must not count it."""
        if owned.failed:
            raise BusError(f"{self.group}: an output of partition {n} was not delivered: "
                           f"{owned.failed[0]}")  # fmt: skip

    def _snapshot(self, n: int, owned: _Owned, state: bytes, positions: dict[str, int]) -> None:
        snapshot = _Snapshot(state, positions, owned.sequences)
        _produce(owned.producer, self.changelog, self._encoder.encode(snapshot), str(n).encode(),
                 [(SCHEMA_HEADER, _STATE_SCHEMA)], None, partition=n)  # fmt: skip

    async def close(self) -> None:
        """Leave the group (the partitions' last rounds are committed already)."""
        await asyncio.to_thread(self._consumer.close)
        self._owned.clear()
        self._workers.shutdown()
        if self._shared is not None:
            await asyncio.to_thread(self._shared.flush, _TIMEOUT_S)


def _produce(
    producer: Producer,
    topic: str,
    payload: bytes,
    key: bytes,
    headers: list[tuple[str, bytes]],
    on_delivery: Any,
    partition: int | None = None,
) -> None:
    """Produce one record, serving delivery reports while the client's queue is full."""
    extra = {} if partition is None else {"partition": partition}
    while True:
        try:
            producer.produce(topic, payload, key, headers=headers, on_delivery=on_delivery, **extra)
            return
        except BufferError:
            producer.poll(0.05)
