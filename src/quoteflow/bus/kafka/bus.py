"""Topics on Kafka (or any Kafka-protocol broker) with confluent-kafka, behind the bus interface.

Topics are created on first use with ``partitions`` partitions and an explicit
``retention.ms``. The record key is the instrument, so Kafka's partitioner
keeps each instrument in one partition, in order. Values are encoded per topic
by :class:`~quoteflow.bus.codec.TopicCodec`. Producing waits when the client's
queue is full (backpressure); consuming runs the blocking client calls in a
worker thread so the event loop keeps going.

``lag`` counts from what this process produced and committed, not from the
broker's high watermarks (which some Kafka-protocol brokers report wrongly): it is
meant for draining an in-process pipeline, not for monitoring other processes.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import pyarrow as pa
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from quoteflow.bus.base import Message
from quoteflow.bus.codec import SCHEMA_HEADER, TopicCodec
from quoteflow.bus.kafka.messages import consume, header, sequence_of
from quoteflow.bus.kafka.stage import KafkaStageSession
from quoteflow.errors import BusError
from quoteflow.events import from_batch

__all__ = ["KafkaBus", "KafkaConsumer"]

_LOG_LEVEL_ERRORS = 3
_log = logging.getLogger(__name__)  # librdkafka's own messages go through Python logging


class KafkaBus:
    """Partitioned topics on a Kafka cluster at ``bootstrap`` (``host:port,...``).

    ``stage_commit`` is how stages commit a round (see
    :mod:`quoteflow.bus.kafka.stage`), ``commit_interval_ms`` how often an
    idempotent stage stores its state; ``linger_ms`` how long a producer waits to
    fill a batch; ``fetch_wait_ms`` the longest a consumer's
    fetch waits for new records (brokers that answer a fetch only at its end,
    add up to that much latency).

    ``client`` holds extra librdkafka settings for every client (security:
    ``security.protocol``, ``sasl.mechanism``, ``sasl.username``, ...).
    """

    ordered_across_topics = False
    carries_batches = False
    durable = True

    def __init__(
        self,
        bootstrap: str,
        *,
        partitions: int = 4,
        retention_ms: int = 7 * 86_400_000,
        session_timeout_ms: int = 45_000,
        fetch_wait_ms: int = 500,
        commit_interval_ms: int = 100,
        linger_ms: int = 1,
        stage_commit: Literal["transaction", "idempotent"] = "transaction",
        codec: TopicCodec | None = None,
        client: Mapping[str, Any] | None = None,
    ) -> None:
        if partitions < 1:
            raise ValueError("partitions must be >= 1")
        self.partitions = partitions
        self.retention_ms = retention_ms
        self.session_timeout_ms = session_timeout_ms
        self.fetch_wait_ms = fetch_wait_ms
        self.commit_interval_ms = commit_interval_ms
        self.linger_ms = linger_ms
        self.stage_commit = stage_commit
        self.codec = codec or TopicCodec()
        self.bootstrap = bootstrap
        self._client_errors: list[KafkaError] = []
        self._common = {"bootstrap.servers": bootstrap, "log_level": _LOG_LEVEL_ERRORS,
                        "logger": _log, "error_cb": self._client_errors.append,
                        **(client or {})}  # fmt: skip
        self._admin = AdminClient(self._common)
        self._producer = Producer(self.producer_settings({}))
        self._topics: set[str] = set()
        self._produced: dict[tuple[str, int], int] = defaultdict(int)
        self._produced_lock = threading.Lock()
        self._committed: dict[str, dict[tuple[str, int], int]] = defaultdict(dict)
        self._group_topics: dict[str, set[str]] = defaultdict(set)
        self._errors: list[KafkaError] = []
        self._closed = False

    def ensure_topics(self, topics: Iterable[str], config: Mapping[str, str] | None = None) -> None:
        """Create the topics that do not exist yet (partitions and retention as configured).

        ``config`` replaces the topic settings (a changelog: ``cleanup.policy=compact``).
        A topic that customers read brings its ``customer.`` copy along.
        """
        wanted = list(topics)
        wanted += [c for t in wanted if (c := self.codec.customer_copy(t)) is not None]
        missing = [t for t in dict.fromkeys(wanted) if t not in self._topics]
        if not missing:
            return
        existing = self._existing_topics()
        settings = dict(config or {"retention.ms": str(self.retention_ms)})
        new = [
            NewTopic(t, num_partitions=self.partitions, replication_factor=1, config=settings)
            for t in missing
            if t not in existing
        ]
        for topic, future in self._admin.create_topics(new).items() if new else ():
            try:
                future.result()
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise BusError(f"cannot create topic {topic}: {exc}") from exc
        self._await_metadata(missing)
        self._topics.update(missing)

    def _existing_topics(self, timeout_s: float = 10.0) -> set[str]:
        """Return the cluster's topics; a cluster out of reach is a :class:`BusError` saying why."""
        try:
            return set(self._admin.list_topics(timeout=timeout_s).topics)
        except KafkaException as exc:
            self._admin.poll(0)  # serves error_cb
            auth = [e for e in self._client_errors if e.code() == KafkaError._AUTHENTICATION]
            if auth:
                raise BusError(
                    f"Kafka at {self.bootstrap}: authentication failed: {auth[-1].str()} "
                    "(check the bus security settings: security_protocol, sasl_*, ssl_*)"
                ) from exc
            raise BusError(f"Kafka at {self.bootstrap} is out of reach: {exc}") from exc

    def _await_metadata(self, topics: list[str], timeout_s: float = 10.0) -> None:
        """Wait until the cluster's metadata lists ``topics``, so consumers see them at once."""
        deadline = time.monotonic() + timeout_s
        while set(topics) - self._existing_topics(timeout_s):
            if time.monotonic() > deadline:
                raise BusError(f"topics {', '.join(topics)} did not appear in {timeout_s:g} s")
            time.sleep(0.05)

    def delivered(
        self, error: KafkaError | None, message: Any, failed: list[KafkaError] | None = None
    ) -> None:
        """Delivery report of any producer of this bus: counts what reached the broker.

        A failure goes to ``failed`` if given (a stage partition's own list),
        else to the bus's, which :meth:`check_delivered` raises.
        """
        if error is not None:
            (self._errors if failed is None else failed).append(error)
            return
        key = (message.topic(), message.partition())
        with self._produced_lock:  # stage transactions report from several threads
            self._produced[key] = max(self._produced[key], message.offset() + 1)

    def check_delivered(self, what: str) -> None:
        """Raise :class:`~quoteflow.errors.BusError` for a record that failed to reach the broker.

        ``what`` names the sender in the message. Failures reported since the
        last check count; the first is raised (and forgotten).
        """
        if self._errors:
            raise BusError(f"{what}: delivery failed: {self._errors.pop(0)}")

    async def send(self, topic: str, key: str, value: Any) -> None:
        """Append one record."""
        await self.send_many(topic, [(key, value)])

    async def send_many(self, topic: str, records: Iterable[tuple[str, Any]]) -> None:
        """Append ``(key, value)`` records; waits while the client's queue is full."""
        if self._closed:
            raise BusError("the bus is closed")
        self.ensure_topics([topic])
        for key, value in records:
            for target, payload, schema in self.codec.encode(topic, value):
                while True:
                    try:
                        self._producer.produce(target, payload, key.encode(),
                                               headers=[(SCHEMA_HEADER, schema)],
                                               on_delivery=self.delivered)  # fmt: skip
                        break
                    except BufferError:
                        self._producer.poll(0)
                        await asyncio.sleep(0.005)
        self._producer.poll(0)
        self.check_delivered(topic)

    async def send_batch(self, topic: str, batch: pa.RecordBatch) -> None:
        """Append an Arrow batch of records, one message per record keyed by its instrument."""
        await self.send_many(topic, [(r.instrument, r) for r in from_batch(batch)])

    async def send_interleaved(
        self, parts: Sequence[tuple[str, pa.RecordBatch]], order: Any
    ) -> None:
        """Append each part's records: Kafka keeps no order across topics (readers merge them)."""
        for topic, batch in parts:
            await self.send_batch(topic, batch)

    async def flush(self) -> None:
        """Wait until everything sent so far is acknowledged by the broker."""
        remaining = await asyncio.to_thread(self._producer.flush, 30)
        if remaining:
            raise BusError(f"{remaining} records not delivered after 30 s")
        self.check_delivered("bus")

    def subscribe(self, group: str, topics: Sequence[str]) -> KafkaConsumer:
        """Join ``group`` reading ``topics``; Kafka shares the partitions among members."""
        self.ensure_topics(topics)
        self._group_topics[group].update(topics)
        return KafkaConsumer(self, group, topics)

    def stage_session(self, group: str, topics: Sequence[str]) -> KafkaStageSession:
        """Join ``group`` as a stage: transactions per partition, state in a changelog topic."""
        self.ensure_topics(topics)
        self._group_topics[group].update(topics)
        return KafkaStageSession(self, group, topics)

    def committed(self, group: str, positions: Mapping[tuple[str, int], int]) -> None:
        """Record offsets that ``group`` committed (for :meth:`lag`)."""
        self._committed[group].update(positions)

    def producer_settings(self, extra: Mapping[str, Any]) -> dict[str, Any]:
        """Return librdkafka settings of an idempotent producer, with ``extra`` on top."""
        return {**self._common, "enable.idempotence": True, "linger.ms": self.linger_ms, **extra}

    def consumer_settings(self, group: str) -> dict[str, Any]:
        """Return librdkafka settings of a member of ``group``: explicit commits, read_committed."""
        return {
            **self._common,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": self.session_timeout_ms,
            "isolation.level": "read_committed",
            # a topic created after subscribing is picked up within this time (default 5 min)
            "topic.metadata.refresh.interval.ms": 5_000,
            "fetch.wait.max.ms": self.fetch_wait_ms,
        }

    async def receive(
        self, consumer: Consumer, max_records: int, timeout_s: float, reader: str
    ) -> list[tuple[Any, Message]]:
        """Consume in a worker thread; return each raw message with its decoded :class:`Message`."""
        raw = await asyncio.to_thread(consume, consumer, max_records, timeout_s)
        return [(m, decoded) for m in raw if (decoded := self.decode(m, reader)) is not None]

    def decode(self, message: Any, reader: str) -> Message | None:
        """Return a raw Kafka message as a :class:`Message`; ``None`` for an end-of-partition event.

        Raises :class:`~quoteflow.errors.BusError` naming ``reader`` for a consume error.
        """
        error = message.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                return None
            raise BusError(f"{reader}: {error}")
        topic = message.topic()
        value = self.codec.decode(topic, message.value(), header(message, SCHEMA_HEADER))
        key = (message.key() or b"").decode()
        return Message(topic, message.partition(), message.offset(), key, value)

    def lag(self, group: str) -> int:
        """Return what this process produced to ``group``'s topics that the group has not committed.

        Records still in the client's send queue count too.
        """
        self._producer.poll(0)
        committed = self._committed[group]
        pending = sum(
            end - committed.get(tp, 0)
            for tp, end in self._produced.items()
            if tp[0] in self._group_topics[group]
        )
        return pending + len(self._producer)

    async def close(self) -> None:
        """Deliver what is queued, then refuse further sends."""
        if not self._closed:
            self._closed = True
            await asyncio.to_thread(self._producer.flush, 30)
            self._producer.poll(0)


class KafkaConsumer:
    """A consumer group member; offsets are committed explicitly by :meth:`commit`.

    Records that carry a ``qf-seq`` header (outputs of a stage) are deduplicated:
    one whose sequence number is not above the last one read for its topic and
    key is a copy left by an aborted transaction and is dropped (``duplicates``
    counts them).
    """

    def __init__(self, bus: KafkaBus, group: str, topics: Sequence[str]) -> None:
        self.bus = bus
        self.group = group
        self.topics = tuple(topics)
        self.duplicates = 0
        self._consumer = Consumer(bus.consumer_settings(group))
        self._positions: dict[tuple[str, int], int] = {}
        self._committed: dict[tuple[str, int], int] = {}
        self._sequences: dict[tuple[str, int], dict[str, int]] = defaultdict(dict)
        self._consumer.subscribe(list(topics), on_revoke=self._revoked)

    def _revoked(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Forget positions of partitions that go to another member (it re-reads them)."""
        for tp in partitions:
            self._positions.pop((tp.topic, tp.partition), None)
            self._committed.pop((tp.topic, tp.partition), None)
            self._sequences.pop((tp.topic, tp.partition), None)

    async def poll(self, max_records: int = 1000, timeout_s: float = 1.0) -> list[Message]:
        """Return up to ``max_records`` decoded records, waiting up to ``timeout_s``."""
        out = []
        for message, decoded in await self.bus.receive(self._consumer, max_records, timeout_s,
                                                       self.group):  # fmt: skip
            where = (decoded.topic, decoded.partition)
            self._positions[where] = decoded.offset + 1
            sequence = sequence_of(message)
            if sequence is not None:
                if sequence <= self._sequences[where].get(decoded.key, 0):
                    self.duplicates += 1
                    continue
                self._sequences[where][decoded.key] = sequence
            out.append(decoded)
        return out

    async def commit(self, positions: Mapping[tuple[str, int], int] | None = None) -> None:
        """Commit the positions after every record returned so far, or the given ``positions``.

        Only partitions this member still reads, and only offsets that moved, go to
        the broker: a sink may report partitions handed to another member, and
        may call this after every poll.
        """
        chosen = {
            tp: offset
            for tp, offset in (self._positions if positions is None else positions).items()
            if tp in self._positions and self._committed.get(tp) != offset
        }
        if not chosen:
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in chosen.items()]
        await asyncio.to_thread(self._consumer.commit, offsets=offsets, asynchronous=False)
        self._committed.update(chosen)
        self.bus.committed(self.group, chosen)

    async def close(self) -> None:
        """Leave the group."""
        await asyncio.to_thread(self._consumer.close)
