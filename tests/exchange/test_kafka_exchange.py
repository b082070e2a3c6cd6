"""The exchange on a real Kafka broker: order entry and matching processes, kill -9, replay.

``quoteflow exchange serve --bus ... --no-match`` takes orders and sends them to
the ``orders`` topic; two ``quoteflow run match`` processes share its partitions,
and one of them is killed (-9) three times while orders flow. The executions on
Kafka, read as a consumer reads them, must be exactly the order entry's own
(the deterministic engine gives both the same), no gap and no duplicate; and
reading the ``orders`` topic back into fresh engines gives them again, byte for byte.
"""

import asyncio
import os
import random
import signal
import subprocess
import threading
import time

import msgspec

from quoteflow.access.keys import KeyStore
from quoteflow.bus.kafka import KafkaBus
from quoteflow.exchange.instruments import load_instruments
from quoteflow.exchange.matcher import EXECUTIONS_TOPIC, ORDERS_TOPIC, MatchingOperator
from quoteflow.exchange.store import CommandStore
from tests.exchange.test_cli import QUOTEFLOW
from tests.exchange.test_serve import call

LISTING = "".join(f"""
[[instruments]]
symbol = "{symbol}"
tick_size = "0.01"
reference_price = "10.00"
calendar = "24/7"
""" for symbol in ("ACME", "BOLT", "CRUX", "DYNA"))  # fmt: skip


class Process:
    """A quoteflow process whose stderr lines are collected."""

    def __init__(self, env, *args):
        self.proc = subprocess.Popen([*QUOTEFLOW, *args], stderr=subprocess.PIPE, text=True,
                                     env=env)  # fmt: skip
        self.lines = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.proc.stderr),
                                       daemon=True)  # fmt: skip
        self.reader.start()

    def wait_for(self, text, timeout_s=60):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return next(line for line in self.lines if text in line)
            time.sleep(0.05)
        raise AssertionError(f"no {text!r} in: {''.join(self.lines[-20:])}")

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=120)
        assert self.proc.returncode == 0, "".join(self.lines[-30:])


def send_orders(url, keys, stop, rng, placed):
    n = 0
    while not stop.is_set():
        n += 1
        trader = rng.choice(list(keys))
        symbol = rng.choice(["ACME", "BOLT", "CRUX", "DYNA"])
        price = f"{10 + rng.randint(-4, 4) / 100:.2f}"
        body = {"client_order_id": f"o{n}", "symbol": symbol, "side": rng.choice(["buy", "sell"]),
                "quantity": rng.randint(1, 9), "price": price, "time_in_force": "GTC"}  # fmt: skip
        status, state = call("POST", f"{url}/v1/orders", keys[trader], body)
        assert status == 200, state
        placed.append(state)


async def read_topic(broker, topic, want, timeout_s=120):
    bus = KafkaBus(broker, session_timeout_ms=6000)
    consumer = bus.subscribe(f"reader-{topic}", [topic])
    messages = []
    deadline = time.monotonic() + timeout_s
    while len(messages) < want and time.monotonic() < deadline:
        messages += await consumer.poll(5000, 0.5)
    messages += await consumer.poll(5000, 2.0)  # anything beyond would arrive now
    await consumer.close()
    await bus.close()
    return messages


def encoded(executions):
    return sorted(msgspec.msgpack.encode(e) for e in executions)


def test_orders_on_kafka_are_matched_once_through_kill_9_and_replay_byte_for_byte(
    tmp_path, own_kafka_broker
):
    (tmp_path / "listing.toml").write_text(LISTING)
    env = {**os.environ, "QUOTEFLOW_EXCHANGE__INSTRUMENTS": str(tmp_path / "listing.toml"),
           "QUOTEFLOW_EXCHANGE__DB": str(tmp_path / "x.db"),
           "QUOTEFLOW_GATEWAY__KEYS_DB": str(tmp_path / "keys.db"),
           "QUOTEFLOW_BUS__SESSION_TIMEOUT_MS": "6000"}  # fmt: skip
    store = KeyStore(tmp_path / "keys.db")
    keys = {name: store.create(name, channels=["*"], instruments=["*"])[1]
            for name in ("alice", "bob", "carol")}  # fmt: skip
    bus = f"kafka://{own_kafka_broker}"
    entry = Process(env, "exchange", "serve", "--bus", bus, "--no-match", "--port", "0")
    url = entry.wait_for("exchange on ").split("exchange on ")[1].split("/v1")[0]
    steady = Process(env, "run", "match", "--bus", bus)
    victim = Process(env, "run", "match", "--bus", bus)
    rng, placed, enough = random.Random(3), [], threading.Event()
    sender = threading.Thread(target=send_orders, args=(url, keys, enough, rng, placed))
    try:
        sender.start()
        for _ in range(3):
            victim.wait_for("assigned partitions")
            time.sleep(rng.uniform(0.5, 2.0))
            assert sender.is_alive()  # killed while orders flow
            victim.kill()
            victim = Process(env, "run", "match", "--bus", bus)
        victim.wait_for("assigned partitions")  # stop it once it runs, not while it starts
        time.sleep(1)
        enough.set()
        sender.join(timeout=60)
        entry.stop()
        assert len(placed) > 500
        instruments = load_instruments(tmp_path / "listing.toml")
        kept = CommandStore(tmp_path / "x.db")
        expected = [e for symbol in instruments for e in kept.executions(symbol)]
        assert len(expected) > 300
        # read while the matching processes run: they may still be working off the log
        published = asyncio.run(read_topic(own_kafka_broker, EXECUTIONS_TOPIC, len(expected)))
    finally:
        entry.stop()
        for process in (steady, victim):
            process.stop()
    assert encoded(m.value for m in published) == encoded(expected)

    orders = asyncio.run(read_topic(own_kafka_broker, ORDERS_TOPIC, len(list(kept.commands()))))
    operator, engines, replayed = MatchingOperator(instruments), {}, []
    for message in sorted(orders, key=lambda m: (m.partition, m.offset)):
        engine = engines.setdefault(message.partition, operator.initial_state())
        replayed += [r for t, r in operator.process([message.value], engine)[0]
                     if t == EXECUTIONS_TOPIC]  # fmt: skip
    assert encoded(replayed) == encoded(expected)
