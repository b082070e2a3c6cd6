"""Topics on Kafka (or any Kafka-protocol broker) with confluent-kafka, behind the bus interface.

Topics are created on first use with ``partitions`` partitions and an explicit
``retention.ms``. The record key is the instrument, so Kafka's partitioner
keeps each instrument in one partition, in order. Values are encoded per topic
by :class:`~quoteflow.bus.codec.TopicCodec`. Producing waits when the client's
queue is full (backpressure); consuming runs the blocking client calls in a
worker thread so the event loop keeps going.

``lag`` counts from what this process produced and committed, not from the
broker's high watermarks (which the Tansu test broker reports wrongly): it is
meant for draining an in-process pipeline, not for monitoring other processes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from quoteflow.bus.base import Message
from quoteflow.bus.codec import SCHEMA_HEADER, TopicCodec
from quoteflow.errors import BusError

__all__ = ["KafkaBus", "KafkaConsumer"]

_LOG_LEVEL_ERRORS = 3
_log = logging.getLogger(__name__)  # librdkafka's own messages go through Python logging


class KafkaBus:
    """Partitioned topics on a Kafka cluster at ``bootstrap`` (``host:port,...``).

    ``client`` holds extra librdkafka settings for every client (security:
    ``security.protocol``, ``sasl.mechanism``, ``sasl.username``, ...).
    """

    ordered_across_topics = False

    def __init__(
        self,
        bootstrap: str,
        *,
        partitions: int = 4,
        retention_ms: int = 7 * 86_400_000,
        session_timeout_ms: int = 45_000,
        codec: TopicCodec | None = None,
        client: Mapping[str, Any] | None = None,
    ) -> None:
        if partitions < 1:
            raise ValueError("partitions must be >= 1")
        self.partitions = partitions
        self.retention_ms = retention_ms
        self.session_timeout_ms = session_timeout_ms
        self.codec = codec or TopicCodec()
        self._common = {"bootstrap.servers": bootstrap, "log_level": _LOG_LEVEL_ERRORS,
                        "logger": _log, **(client or {})}  # fmt: skip
        self._admin = AdminClient(self._common)
        self._producer = Producer({**self._common, "linger.ms": 5, "enable.idempotence": True})
        self._topics: set[str] = set()
        self._produced: dict[tuple[str, int], int] = defaultdict(int)
        self._committed: dict[str, dict[tuple[str, int], int]] = defaultdict(dict)
        self._group_topics: dict[str, set[str]] = defaultdict(set)
        self._errors: list[KafkaError] = []
        self._closed = False

    def ensure_topics(self, topics: Iterable[str]) -> None:
        """Create the topics that do not exist yet (partitions and retention as configured)."""
        missing = [t for t in topics if t not in self._topics]
        if not missing:
            return
        existing = set(self._admin.list_topics(timeout=10).topics)
        new = [
            NewTopic(
                t,
                num_partitions=self.partitions,
                replication_factor=1,
                config={"retention.ms": str(self.retention_ms)},
            )
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

    def _await_metadata(self, topics: list[str], timeout_s: float = 10.0) -> None:
        """Wait until the cluster's metadata lists ``topics``, so consumers see them at once."""
        deadline = time.monotonic() + timeout_s
        while set(topics) - set(self._admin.list_topics(timeout=timeout_s).topics):
            if time.monotonic() > deadline:
                raise BusError(f"topics {', '.join(topics)} did not appear in {timeout_s:g} s")
            time.sleep(0.05)

    def _delivered(self, error: KafkaError | None, message: Any) -> None:
        if error is not None:
            self._errors.append(error)
            return
        key = (message.topic(), message.partition())
        self._produced[key] = max(self._produced[key], message.offset() + 1)

    async def send(self, topic: str, key: str, value: Any) -> None:
        """Append one record."""
        await self.send_many(topic, [(key, value)])

    async def send_many(self, topic: str, records: Iterable[tuple[str, Any]]) -> None:
        """Append ``(key, value)`` records; waits while the client's queue is full."""
        if self._closed:
            raise BusError("the bus is closed")
        self.ensure_topics([topic])
        for key, value in records:
            payload, schema = self.codec.encode(topic, value)
            while True:
                try:
                    self._producer.produce(topic, payload, key.encode(),
                                           headers=[(SCHEMA_HEADER, schema)],
                                           on_delivery=self._delivered)  # fmt: skip
                    break
                except BufferError:
                    self._producer.poll(0)
                    await asyncio.sleep(0.005)
        self._producer.poll(0)
        if self._errors:
            raise BusError(f"{topic}: delivery failed: {self._errors.pop(0)}")

    async def flush(self) -> None:
        """Wait until everything sent so far is acknowledged by the broker."""
        remaining = await asyncio.to_thread(self._producer.flush, 30)
        if remaining:
            raise BusError(f"{remaining} records not delivered after 30 s")
        if self._errors:
            raise BusError(f"delivery failed: {self._errors.pop(0)}")

    def subscribe(self, group: str, topics: Sequence[str]) -> KafkaConsumer:
        """Join ``group`` reading ``topics``; Kafka shares the partitions among members."""
        self.ensure_topics(topics)
        self._group_topics[group].update(topics)
        return KafkaConsumer(self, group, topics)

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
    """A consumer group member; offsets are committed explicitly by :meth:`commit`."""

    def __init__(self, bus: KafkaBus, group: str, topics: Sequence[str]) -> None:
        self.bus = bus
        self.group = group
        self.topics = tuple(topics)
        self._consumer = Consumer({
            **bus._common,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": bus.session_timeout_ms,
            "isolation.level": "read_committed",
            # a topic created after subscribing is picked up within this time (default 5 min)
            "topic.metadata.refresh.interval.ms": 5_000,
        })  # fmt: skip
        self._positions: dict[tuple[str, int], int] = {}
        self._consumer.subscribe(list(topics), on_revoke=self._revoked)

    def _revoked(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Forget positions of partitions that go to another member (it re-reads them)."""
        for tp in partitions:
            self._positions.pop((tp.topic, tp.partition), None)

    async def poll(self, max_records: int = 1000, timeout_s: float = 1.0) -> list[Message]:
        """Return up to ``max_records`` decoded records, waiting up to ``timeout_s``."""
        raw = await asyncio.to_thread(self._consumer.consume, max_records, timeout_s)
        out = []
        for message in raw:
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                raise BusError(f"{self.group}: {error}")
            topic = message.topic()
            headers = dict(message.headers() or ())
            value = self.bus.codec.decode(topic, message.value(), headers.get(SCHEMA_HEADER))
            key = (message.key() or b"").decode()
            out.append(Message(topic, message.partition(), message.offset(), key, value))
            self._positions[(topic, message.partition())] = message.offset() + 1
        return out

    async def commit(self) -> None:
        """Commit the positions after every record returned so far."""
        if not self._positions:
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in self._positions.items()]
        await asyncio.to_thread(self._consumer.commit, offsets=offsets, asynchronous=False)
        self.bus._committed[self.group].update(self._positions)

    async def close(self) -> None:
        """Leave the group."""
        await asyncio.to_thread(self._consumer.close)
