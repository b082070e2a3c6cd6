import asyncio

import numpy as np
import pytest

from quoteflow.bus import MemoryBus
from quoteflow.bus import open as open_bus
from quoteflow.bus.base import in_send_order
from quoteflow.bus.config import BusSettings
from quoteflow.errors import BusError, ConfigError
from quoteflow.events import Quote, Trade, to_batch


async def drain(consumer, expected: int) -> list:
    out = []
    while len(out) < expected:
        batch = await consumer.poll(100, timeout_s=1.0)
        assert batch, f"only {len(out)} of {expected} records arrived"
        out.extend(batch)
        await consumer.commit()
    return out


async def test_records_of_one_key_stay_in_order_in_one_partition():
    bus = MemoryBus(partitions=4)
    consumer = bus.subscribe("g", ["quotes"])
    await bus.send_many("quotes", [(f"K{i % 3}", i) for i in range(300)])
    records = await drain(consumer, 300)
    for key in ("K0", "K1", "K2"):
        mine = [r for r in records if r.key == key]
        assert [r.value for r in mine] == sorted(r.value for r in mine)
        assert {r.partition for r in mine} == {bus.partition_for(key)}
        assert [r.offset for r in mine] == sorted(r.offset for r in mine)


async def test_each_group_reads_every_record_once():
    bus = MemoryBus(partitions=2)
    a = bus.subscribe("a", ["t"])
    b = bus.subscribe("b", ["t"])
    await bus.send_many("t", [(str(i), i) for i in range(50)])
    assert sorted(r.value for r in await drain(a, 50)) == list(range(50))
    assert sorted(r.value for r in await drain(b, 50)) == list(range(50))
    assert await a.poll(timeout_s=0.01) == []
    assert bus.lag("a") == 0 and bus.lag("b") == 0


async def test_members_of_a_group_split_the_partitions_and_take_over_on_leave():
    bus = MemoryBus(partitions=4)
    first = bus.subscribe("g", ["t"])
    second = bus.subscribe("g", ["t"])
    assert set(first.assigned).isdisjoint(second.assigned)
    assert len(first.assigned) + len(second.assigned) == 4
    await bus.send_many("t", [(f"k{i}", i) for i in range(40)])
    got = await first.poll(100, timeout_s=0.1)
    await first.commit()
    await second.close()
    assert len(first.assigned) == 4
    rest = await drain(first, 40 - len(got))
    assert sorted(r.value for r in got + rest) == list(range(40))


async def test_uncommitted_records_go_to_the_next_member_after_close():
    bus = MemoryBus(partitions=1)
    first = bus.subscribe("g", ["t"])
    await bus.send_many("t", [("k", i) for i in range(5)])
    assert len(await first.poll(timeout_s=0.1)) == 5
    await first.close()
    second = bus.subscribe("g", ["t"])
    assert [r.value for r in await second.poll(timeout_s=0.1)] == [0, 1, 2, 3, 4]


async def test_producer_waits_when_partition_full_until_consumer_commits():
    bus = MemoryBus(partitions=1, capacity=10)
    consumer = bus.subscribe("g", ["t"])
    send = asyncio.create_task(bus.send_many("t", [("k", i) for i in range(25)]))
    await asyncio.sleep(0.05)
    assert not send.done()
    assert bus.lag("g") == 10  # bounded: never more than capacity outstanding
    records = await drain(consumer, 25)
    await send
    assert [r.value for r in records] == list(range(25))


async def test_topic_without_readers_keeps_newest_capacity_records():
    bus = MemoryBus(partitions=1, capacity=5)
    await bus.send_many("t", [("k", i) for i in range(12)])
    late = bus.subscribe("g", ["t"])
    assert [r.value for r in await late.poll(timeout_s=0.1)] == [7, 8, 9, 10, 11]


async def test_poll_wakes_up_when_a_record_arrives():
    bus = MemoryBus(partitions=1)
    consumer = bus.subscribe("g", ["t"])
    poll = asyncio.create_task(consumer.poll(timeout_s=5.0))
    await asyncio.sleep(0.01)
    await bus.send("t", "k", "hello")
    assert [r.value for r in await poll] == ["hello"]


async def test_closed_bus_refuses_sends():
    bus = MemoryBus()
    await bus.close()
    with pytest.raises(BusError):
        await bus.send("t", "k", 1)


async def test_a_consumer_of_several_topics_gets_records_in_send_order_across_commits():
    bus = MemoryBus(partitions=2, capacity=50)
    consumer = bus.subscribe("g", ["quotes", "trades"])
    sent = [("trades" if i % 4 == 0 else "quotes", f"K{i % 3}", i) for i in range(400)]
    got = []

    async def consume():
        while len(got) < len(sent):
            got.extend(m.value for m in await consumer.poll(7, 0.05))
            await consumer.commit()

    reader = asyncio.create_task(consume())
    for topic, key, value in sent:
        await bus.send(topic, key, value)
    await reader
    for key in ("K0", "K1", "K2"):
        mine = [v for v in got if f"K{v % 3}" == key]
        assert mine == sorted(mine)


async def test_interleaved_batches_come_back_in_their_order_and_whole_whatever_the_poll_size():
    bus = MemoryBus(partitions=2)
    consumer = bus.subscribe("g", ["quotes", "trades"])
    quotes = to_batch([Quote("T", name, ts, ts, bid_price=1.0, ask_price=2.0)
                       for ts, name in enumerate("ABAB")])  # fmt: skip
    trades = to_batch([Trade("T", n, ts, ts, price=1.5, size=1.0) for ts, n in enumerate("BA")])
    order = np.array([0, 1, 0, 0, 1, 0], dtype=np.int8)  # q t q q t q
    await bus.send_interleaved([("quotes", quotes), ("trades", trades)], order)
    messages = await consumer.poll(1, 0.1)  # one record asked: the stream comes whole
    assert sum(m.rows for m in messages) == 6
    by_partition: dict[int, list] = {}
    for message in messages:
        by_partition.setdefault(message.partition, []).append(message)
    for part in by_partition.values():
        (stream,) = in_send_order(part)
        records = stream.records()
        names = {r.instrument for r in records}
        sent = [(k, n) for k, n in zip("qtqqtq", "ABBAAB", strict=True) if n in names]
        assert [("t" if isinstance(r, Trade) else "q", r.instrument) for r in records] == sent


def test_a_bus_opens_by_its_url_and_a_strange_url_is_refused():
    bus = open_bus("memory://", BusSettings(capacity=7))
    assert isinstance(bus, MemoryBus) and bus.capacity == 7
    for url in ("redis://localhost", "kafka://", "memory://host"):
        with pytest.raises(ConfigError, match="use memory:// or kafka://"):
            open_bus(url)
