"""Stage transactions on the test broker: what it does with aborted transactions, and the cure."""

from confluent_kafka import Consumer, Producer, TopicPartition

from quoteflow.bus.codec import SCHEMA_HEADER, SEQUENCE_HEADER, TopicCodec
from quoteflow.bus.kafka import KafkaBus
from quoteflow.bus.kafka_stage import changelog_topic
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
