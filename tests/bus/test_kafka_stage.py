"""Stage transactions on the test broker: what it does with aborted transactions, and the cure."""

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from quoteflow.bus.base import PartitionCommit
from quoteflow.bus.codec import SCHEMA_HEADER, SEQUENCE_HEADER, TopicCodec
from quoteflow.bus.kafka import KafkaBus
from quoteflow.bus.kafka.stage import changelog_topic
from quoteflow.errors import BusError
from quoteflow.events import Trade
from tests.bus.test_kafka import SESSION_MS, name, poll_all


def produce(producer: Producer, topic: str, trades: list[Trade], first_sequence: int) -> None:
    codec = TopicCodec()
    for sequence, trade in enumerate(trades, first_sequence):
        ((_, payload, schema),) = codec.encode(topic, trade)
        headers = [(SCHEMA_HEADER, schema), (SEQUENCE_HEADER, str(sequence).encode())]
        producer.produce(topic, payload, b"X", headers=headers)


def read_committed_values(broker: str, topic: str) -> list[bytes]:
    settings = {"bootstrap.servers": broker, "group.id": name("raw"), "log_level": 0}
    reader = Consumer(
        {**settings, "isolation.level": "read_committed", "enable.partition.eof": True}
    )
    reader.assign([TopicPartition(topic, 0, 0)])
    values = []
    while True:
        message = reader.poll(10)
        assert message is not None, "no end of partition within 10 s"
        if message.error():
            break
        values.append(message.value())
    reader.close()
    return values


async def test_copies_from_an_aborted_transaction_are_dropped_by_their_sequence_numbers(
    kafka_broker,
):
    bus = KafkaBus(kafka_broker, partitions=1, session_timeout_ms=SESSION_MS)
    topic = name("trades.enriched")
    bus.ensure_topics([topic])
    trades = [Trade("TEST", "X", i, i + 1, 10.0 + i, 1.0) for i in range(1, 6)]
    producer = Producer({"bootstrap.servers": kafka_broker, "log_level": 0,
                         "transactional.id": name("tx")})  # fmt: skip
    producer.init_transactions(30)
    producer.begin_transaction()
    produce(producer, topic, trades[:3], 1)  # a round cut short ...
    producer.flush()
    producer.abort_transaction(30)
    producer.begin_transaction()
    produce(producer, topic, trades, 1)  # ... and the same round again, complete
    producer.commit_transaction(30)

    # The test broker shows the aborted records to read_committed readers: a broker
    # limit that stage outputs must survive. (A broker that hides them passes too.)
    raw = read_committed_values(kafka_broker, topic)
    assert len(raw) in (len(trades), len(trades) + 3)

    consumer = bus.subscribe(name("g"), [topic])
    got = await poll_all(consumer, len(trades))
    got += await consumer.poll(100, 1.0)
    assert [m.value for m in got] == trades
    assert consumer.duplicates == len(raw) - len(trades)
    await consumer.close()
    await bus.close()


def test_a_stage_group_has_a_changelog_topic_with_a_legal_kafka_name():
    assert changelog_topic("stage:enrich") == "quoteflow.stage-enrich.changelog"


async def test_the_lake_commits_only_offsets_whose_records_are_in_written_chunks(tmp_path):
    from quoteflow.bus.base import Message
    from quoteflow.lake import LakeRoot, LakeSink, LakeWriter

    writer = LakeWriter(LakeRoot.open(tmp_path), chunk_rows=1_000, chunk_age_s=3600)
    sink = LakeSink(("trades",), writer)
    day = 1_711_978_200_000_000_000
    trades = [Trade("TEST", f"I{i % 2}", day + i, day + i, 1.0, 1.0) for i in range(10)]
    await sink.write(
        [Message("trades", i % 2, 100 + i, t.instrument, t) for i, t in enumerate(trades)]
    )
    # nothing is in a chunk yet: commit no further than the first record of each partition
    assert sink.durable_positions() == {("trades", 0): 100, ("trades", 1): 101}
    writer.flush()
    assert sink.durable_positions() == {("trades", 0): 109, ("trades", 1): 110}


async def _join(bus: KafkaBus, group: str, topic: str, count: int):
    """Join ``group`` as a stage; return the session, its restored state and ``count`` records."""
    session = bus.stage_session(group, [topic])
    restored: dict[int, bytes | None] = {}
    got = []
    for _ in range(60):
        got += await session.poll(100, 0.5)
        restored.update(session.assigned())
        if restored and len(got) >= count:
            break
    return session, restored, got


async def test_an_idempotent_stage_stores_its_state_every_interval_and_when_it_stops(
    kafka_broker,
):
    bus = KafkaBus(kafka_broker, partitions=1, session_timeout_ms=SESSION_MS,
                   stage_commit="idempotent", commit_interval_ms=3_600_000)  # fmt: skip
    source, target, group = name("trades"), name("trades.enriched"), name("stage:s")
    trades = [Trade("TEST", "X", i, i, 10.0 + i, 1.0) for i in range(1, 6)]
    stored: list[bytes] = []

    def round_of(records, state: bytes) -> dict[int, PartitionCommit]:
        def snapshot() -> bytes:
            stored.append(state)
            return state

        return {0: PartitionCommit([(target, "X", r.value) for r in records], snapshot)}

    await bus.send_many(source, [("X", t) for t in trades[:3]])
    await bus.flush()
    session, restored, got = await _join(bus, group, source, 3)
    assert restored == {0: None}
    await session.commit(round_of(got, b"one"))  # the first round finds the interval up
    await bus.send_many(source, [("X", t) for t in trades[3:]])
    await bus.flush()
    later = await poll_all(session, 2)
    await session.commit(round_of(later, b"two"))  # published, state not stored yet
    assert stored == [b"one"]
    await session.close()

    # the next owner resumes from the stored state and repeats the later round
    session, restored, again = await _join(bus, group, source, 2)
    assert restored == {0: b"one"}
    assert [m.value for m in again] == trades[3:]
    await session.commit(round_of(again, b"three"), store_state=True)
    assert stored == [b"one", b"three"]
    await session.close()

    session, restored, _ = await _join(bus, group, source, 0)
    assert restored == {0: b"three"}
    assert await session.poll(100, 1.0) == []
    await session.close()
    reader = bus.subscribe(name("reader"), [target])
    outputs = await poll_all(reader, len(trades))
    outputs += await reader.poll(100, 1.0)
    assert [m.value for m in outputs] == trades  # the repeated round was dropped
    assert reader.duplicates == 2
    await reader.close()
    await bus.close()


async def test_a_stage_stores_no_state_past_an_output_the_broker_did_not_take(kafka_broker):
    bus = KafkaBus(kafka_broker, partitions=1, session_timeout_ms=SESSION_MS,
                   stage_commit="idempotent")  # fmt: skip
    source, target, group = name("trades"), name("trades.enriched"), name("stage:s")
    trade = Trade("TEST", "X", 1, 1, 10.0, 1.0)
    await bus.send_many(source, [("X", trade)])
    await bus.flush()
    session, _, got = await _join(bus, group, source, 1)
    # a delivery report that says the broker refused one of the partition's outputs
    session._owned[0].delivered(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE), None)
    commit = {0: PartitionCommit([(target, "X", m.value) for m in got], lambda: b"state")}
    with pytest.raises(BusError, match="output of partition 0 was not delivered"):
        await session.commit(commit, store_state=True)
    await session.close()
    restarted, restored, again = await _join(bus, group, source, 1)
    assert restored == {0: None}  # nothing stored: the next owner starts over
    assert [m.value for m in again] == [trade]
    await restarted.close()
    await bus.close()
