"""Replaying the ``orders`` topic into fresh engines reproduces every output byte for byte."""

import asyncio
import random
from decimal import Decimal

import msgspec
import pytest

from quoteflow.app.stages import matching_stage
from quoteflow.bus.memory import MemoryBus
from quoteflow.exchange.errors import OrderRejectedError, UnknownOrderError
from quoteflow.exchange.instruments import ExchangeInstrument
from quoteflow.exchange.matcher import ORDERS_TOPIC, OUTPUT_TOPICS, MatchingOperator
from quoteflow.exchange.service import Exchange
from quoteflow.exchange.store import CommandStore
from quoteflow.runtime import Pipeline
from tests.exchange.test_service import Clock, request

SYMBOLS = ["ACME", "BOLT", "CRUX"]
INSTRUMENTS = {s: ExchangeInstrument(s, Decimal("0.01"), Decimal("10.00"), lot_size=10,
                                     calendar="24/7") for s in SYMBOLS}  # fmt: skip


def random_flow(exchange, rng, count):
    """Place, cancel, amend and expire at random, as traders and a timer would."""
    placed = []
    for n in range(count):
        trader = rng.choice(["alice", "bob", "carol", "dave"])
        roll = rng.random()
        try:
            if roll < 0.65 or not placed:
                tif = rng.choice(["GTC", "IOC", "FOK", "GTD", "GTC"])
                more = {"time_in_force": tif}
                if tif == "GTD":
                    more["expire_at"] = "2024-04-02T15:00:01Z"
                price = f"{10 + rng.randint(-5, 5) / 100:.2f}"
                side = rng.choice(["buy", "sell"])
                placed.append(exchange.place(request(f"o{n}", side, 10 * rng.randint(1, 5), price,
                                                     symbol=rng.choice(SYMBOLS), **more),
                                             trader))  # fmt: skip
            elif roll < 0.85:
                victim = rng.choice(placed)
                exchange.cancel(victim.order_id, victim.trader)
            elif roll < 0.97:
                victim = rng.choice(placed)
                exchange.amend(victim.order_id, victim.trader, quantity=10 * rng.randint(0, 6))
            else:
                exchange.clock.now += 500_000_000
                exchange.expire_due()
        except (OrderRejectedError, UnknownOrderError):
            pass


def key_of(record):
    return record.instrument


async def read_all(consumer):
    messages = []
    while batch := await consumer.poll(max_records=100_000, timeout_s=0.05):
        messages += batch
    return messages


@pytest.mark.parametrize("seed", range(5))
async def test_replaying_the_orders_topic_reproduces_the_outputs_byte_for_byte(tmp_path, seed):
    bus = MemoryBus(partitions=2, capacity=1_000_000)
    exchange = Exchange(INSTRUMENTS, CommandStore(tmp_path / "x.db"), clock=Clock())
    reader = bus.subscribe("reader", [ORDERS_TOPIC, *OUTPUT_TOPICS])  # keeps what it has not read
    stage, finished = Pipeline(bus, [], [matching_stage(INSTRUMENTS)]), asyncio.Event()
    matching = asyncio.create_task(stage.run(finished))
    await asyncio.sleep(0)
    publishing = asyncio.create_task(exchange.publish_to(bus))
    random_flow(exchange, random.Random(seed), 1_500)
    while exchange.outbox:
        await asyncio.sleep(0.01)
    publishing.cancel()
    finished.set()
    await matching
    messages = await read_all(reader)
    published = {topic: [m for m in messages if m.topic == topic] for topic in OUTPUT_TOPICS}
    assert len(published["exchange.executions"]) > 100

    # the stage's records and the order entry's own copy of the engine agree
    last = {}
    for update in (m.value for m in published["exchange.order_updates"]):
        if update.client_order_id and (update.status != "rejected" or update.order_id not in last):
            last[update.order_id] = update
    assert last == exchange.orders

    operator, engines, replayed = MatchingOperator(INSTRUMENTS), {}, []
    for message in (m for m in messages if m.topic == ORDERS_TOPIC):
        engine = engines.setdefault(message.partition, operator.initial_state())
        outputs, _ = operator.process([message.value], engine)
        replayed += outputs
        assert operator.process([message.value], engine)[0] == []  # seen before: skipped
    for topic in OUTPUT_TOPICS:
        for symbol in SYMBOLS:
            before = [m.value for m in published[topic] if m.key == symbol]
            after = [r for t, r in replayed if t == topic and key_of(r) == symbol]
            assert msgspec.msgpack.encode(after) == msgspec.msgpack.encode(before)
