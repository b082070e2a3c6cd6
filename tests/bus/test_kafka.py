"""The Kafka bus against a real Apache Kafka broker on loopback."""

import asyncio
import uuid
from datetime import date

import pytest
from confluent_kafka import Producer

from quoteflow.bus import MemoryBus
from quoteflow.bus.base import records_of
from quoteflow.bus.codec import SCHEMA_HEADER, TopicCodec
from quoteflow.bus.kafka import KafkaBus
from quoteflow.enrich import Enricher, PreviousCloses
from quoteflow.enrich.config import EnrichSettings
from quoteflow.errors import BusError
from quoteflow.events import DeadLetter, EnrichedQuote, Quote, Trade
from quoteflow.feeds.synthetic import SyntheticMarket
from quoteflow.runtime import Pipeline, Stage
from quoteflow.sinks import Sink
from tests.conftest import EventsFeed

# a short session timeout: a member that is gone is noticed within seconds
SESSION_MS = 6000


def quote(instrument: str, i: int) -> Quote:
    return Quote("TEST", instrument, 1_000 + i, 2_000 + i, bid_price=10.0 + i, ask_price=10.5 + i,
                 conditions=("R",))  # fmt: skip


def bus(broker, **kwargs) -> KafkaBus:
    return KafkaBus(broker, session_timeout_ms=SESSION_MS, **kwargs)


async def poll_all(consumer, count, timeout_s=30.0):
    got = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while len(got) < count and loop.time() < deadline:
        got += await consumer.poll(1000, 0.5)
    return got


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_records_round_trip_in_order_per_instrument_with_their_types(kafka_broker):
    b = bus(kafka_broker)
    topic = name("quotes")
    sent = [quote(f"I{i % 5}", i) for i in range(300)]
    consumer = b.subscribe(name("g"), [topic])
    await b.send_many(topic, [(q.instrument, q) for q in sent])
    letter = DeadLetter("TEST", "parse", 5, "bidPrice", "not a number", '{"bp": "x"}')
    await b.send(topic, "TEST", letter)
    await b.flush()
    got = await poll_all(consumer, len(sent) + 1)
    assert (
        sorted((m.value for m in got if isinstance(m.value, Quote)), key=lambda q: q.ts_event)
        == sent
    )
    assert [m.value for m in got if isinstance(m.value, DeadLetter)] == [letter]
    for instrument in {q.instrument for q in sent}:
        mine = [m for m in got if m.key == instrument]
        assert len({m.partition for m in mine}) == 1
        assert [m.value.ts_event for m in mine] == sorted(m.value.ts_event for m in mine)
    await consumer.commit()
    assert b.lag(consumer.group) == 0
    await consumer.close()
    await b.close()


async def test_a_new_member_of_the_group_resumes_after_the_committed_offsets(kafka_broker):
    b = bus(kafka_broker)
    topic, group = name("trades"), name("g")
    trades = [Trade("TEST", "X", i, i + 1, 1.0 + i, 10.0) for i in range(50)]
    first = b.subscribe(group, [topic])
    await b.send_many(topic, [("X", t) for t in trades[:20]])
    await b.flush()
    got = await poll_all(first, 20)
    await first.commit()
    await first.close()
    await b.send_many(topic, [("X", t) for t in trades[20:]])
    await b.flush()
    second = b.subscribe(group, [topic])
    rest = await poll_all(second, 30)
    assert [m.value for m in got + rest] == trades
    await second.close()
    await b.close()


async def test_customer_topics_get_a_copy_with_the_reference_json(kafka_broker):
    b = bus(kafka_broker, codec=TopicCodec(customer_topics=["quotes.enriched.*"]))
    ts = 1_700_000_000_123_000_000
    record = EnrichedQuote("IG", "CS.D.X", ts, ts + 10**6, bid_price=1.0, ask_price=2.0,
                           move="Neutral", indicators={"sma_20": 1.5})  # fmt: skip
    consumer = b.subscribe(name("g"), ["quotes.enriched.test", "customer.quotes.enriched.test"])
    await b.send("quotes.enriched.test", record.instrument, record)
    await b.flush()
    lossless, copy = sorted(await poll_all(consumer, 2), key=lambda m: m.topic, reverse=True)
    assert lossless.value == record
    assert copy.topic == "customer.quotes.enriched.test"
    assert copy.value["instrument"] == "CS.D.X"
    assert copy.value["serverTimestamp"] == 1_700_000_000_123
    await consumer.close()
    await b.close()


async def test_an_unknown_schema_version_is_refused_with_a_clear_error(kafka_broker):
    b = bus(kafka_broker)
    topic = name("quotes")
    consumer = b.subscribe(name("g"), [topic])
    producer = Producer({"bootstrap.servers": kafka_broker, "log_level": 0})
    producer.produce(topic, b"\x80", b"K", headers=[(SCHEMA_HEADER, b"msgpack/quotes/2")])
    producer.flush()
    with pytest.raises(BusError, match="schema version 2; this quoteflow reads version 1"):
        await poll_all(consumer, 1)
    await consumer.close()
    await b.close()


def test_codec_refuses_missing_and_malformed_headers():
    codec = TopicCodec()
    with pytest.raises(BusError, match="without a qf-schema header"):
        codec.decode("t", b"", None)
    with pytest.raises(BusError, match="malformed"):
        codec.decode("t", b"", b"msgpack-quotes")
    with pytest.raises(BusError, match="unknown record type"):
        codec.decode("t", b"\x80", b"msgpack/nonsense/1")
    with pytest.raises(BusError, match="does not match quotes"):
        codec.decode("t", b"\x01", b"msgpack/quotes/1")


class Collect(Sink):
    name = "collect"

    def __init__(self, topics) -> None:
        self.topics = topics
        self.records = []

    async def write(self, messages) -> None:
        self.records += records_of(messages)

    async def close(self) -> None:
        pass


async def run_enrichment(bus_) -> list:
    events = SyntheticMarket(["A", "B", "C"], start=date(2024, 4, 1), rate_per_s=2, seed=4).advance(
        900 * 10**9
    )
    closes = PreviousCloses({"A": {date(2024, 3, 28): 90.0}})
    job = Enricher(EnrichSettings(indicators="sma:3,rsi:2"), closes)
    sink = Collect(("quotes.enriched", "trades.enriched", "bars.1m", "alerts", "dead_letters"))
    # Kafka keeps no order across quotes and trades: the runtime merges them by event time
    stage = Stage("enrich", ("quotes", "trades"), job)
    await Pipeline(bus_, [EventsFeed(events, 200)], [stage], [sink]).run()
    assert not [r for r in sink.records if isinstance(r, DeadLetter)]
    return sorted(sink.records, key=lambda r: (r.TYPE, r.instrument, r.ts_event, r.ts_recv))


async def test_the_pipeline_over_kafka_gives_the_embedded_outputs(own_kafka_broker):
    embedded = await run_enrichment(MemoryBus())
    kafka = KafkaBus(own_kafka_broker, session_timeout_ms=SESSION_MS)
    over_kafka = await run_enrichment(kafka)
    await kafka.close()
    assert len(over_kafka) == len(embedded) > 1000
    assert over_kafka == embedded
