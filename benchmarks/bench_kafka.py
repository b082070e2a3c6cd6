"""Distributed mode on Apache Kafka: one enrich process, quoteflow next to Quix Streams.

Both sides run as their own process on the same broker (Apache Kafka, one KRaft
node, as the tests run it) and read the same
input topic of msgpack quotes (50 instruments, 4 partitions). quoteflow runs
``quoteflow run enrich`` with its default settings (1-minute candles, SMA 20,
SMA 50, RSI 14, alerts; transactions, changelog snapshots, bars and alerts as
outputs too; customer JSON copies off); Quix Streams runs
``benchmarks/quix_enrich.py``: the candles and indicators written per record by
hand, as a Quix user would (no alerts, at-least-once), which is less work.
A third process, ``benchmarks/kafka_copy.py``, copies the input to an output
topic with no work: the floor that two hops through this broker set.
Every client uses ``linger.ms`` 1 and ``fetch.wait.max.ms`` 1, quoteflow's
producer default.

* **Throughput**: the input is written first; a reader in this process then
  counts enriched quotes as they become readable (read_committed) and takes the
  rate between the first and the last.
* **Latency**: quotes are sent at a steady rate with ``ts_recv`` set to the send
  time; the reader takes the time from ``ts_recv`` to the moment it reads the
  enriched quote, after a warm-up.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import msgspec
import numpy as np
from confluent_kafka import Consumer, Producer, TopicPartition

from benchmarks.bench_enrich import _quotes
from quoteflow.bus.codec import SCHEMA_HEADER, TopicCodec
from quoteflow.bus.kafka.broker import KafkaBroker
from quoteflow.bus.kafka.messages import consume
from quoteflow.errors import BusError
from quoteflow.events import Quote

PARTITIONS = 4
_CORES = set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else {0}
INSTRUMENTS = 50
LINGER_MS = 1  # quoteflow's default ``[bus] linger_ms``; the ingest stage's producer
_QUOTEFLOW = str(Path(sys.executable).parent / "quoteflow")
_ENV = {
    **os.environ,
    "QUOTEFLOW_BUS__PARTITIONS": str(PARTITIONS),
    "QUOTEFLOW_BUS__SESSION_TIMEOUT_MS": "6000",
    "QUOTEFLOW_BUS__CUSTOMER_TOPICS": "[]",
    "QUOTEFLOW_BUS__FETCH_WAIT_MS": "1",
}


@dataclass
class Side:
    """One enrich process's figures: throughput, and latency p50/p99 at a steady rate."""

    name: str
    per_s: float
    latency_ms: tuple[float, float]


@dataclass
class KafkaFigures:
    """quoteflow in both commit modes, Quix Streams, and the copy with no work."""

    quotes: int
    rate_per_s: int
    sides: list[Side]
    failures: list[str]  # a side that could not be measured: why (its figures are NaN)


def _produce(broker: str, quotes: list[Quote], rate_per_s: int | None = None) -> None:
    """Write quotes to ``quotes`` as the ingest stage does; paced, with fresh ``ts_recv``."""
    codec = TopicCodec()
    producer = Producer({"bootstrap.servers": broker, "linger.ms": LINGER_MS, "log_level": 0})
    slot = 0.01
    per_slot = max(1, int((rate_per_s or 0) * slot))
    started = time.monotonic()
    for i, quote in enumerate(quotes):
        if rate_per_s is not None:
            if i % per_slot == 0:
                delay = started + (i // per_slot) * slot - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            quote = msgspec.structs.replace(quote, ts_recv=time.time_ns())
        ((topic, payload, schema),) = codec.encode("quotes", quote)
        while True:
            try:
                producer.produce(topic, payload, quote.instrument.encode(),
                                 headers=[(SCHEMA_HEADER, schema)])  # fmt: skip
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    producer.flush(60)


def _create_topics(broker: str, names: list[str]) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": broker, "log_level": 0})
    for future in admin.create_topics([NewTopic(n, PARTITIONS, 1) for n in names]).values():
        future.result()
    while set(names) - set(admin.list_topics(timeout=10).topics):
        time.sleep(0.05)


def _read(broker: str, topic: str, count: int, timeout_s: float) -> np.ndarray:
    """Read ``count`` records; return (arrival ns, ts_recv ns) per record."""
    reader = Consumer({"bootstrap.servers": broker, "group.id": "bench-reader", "log_level": 0,
                       "isolation.level": "read_committed", "fetch.wait.max.ms": 1})  # fmt: skip
    reader.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    seen = np.zeros((count, 2), dtype=np.int64)
    n = 0
    deadline = time.monotonic() + timeout_s
    while n < count and time.monotonic() < deadline:
        for message in consume(reader, 1000, 0.2):
            if message.error() or n >= count:
                continue
            seen[n] = (time.time_ns(), msgspec.msgpack.decode(message.value())["ts_recv"])
            n += 1
    reader.close()
    if n < count:
        raise RuntimeError(f"{topic}: only {n} of {count} records in {timeout_s:g} s")
    return seen


def _start(side: str, broker: str) -> subprocess.Popen:
    env = dict(_ENV)
    if side.startswith("quoteflow"):
        command = [_QUOTEFLOW, "run", "enrich", "--bus", f"kafka://{broker}"]
        env["QUOTEFLOW_BUS__STAGE_COMMIT"] = side.removeprefix("quoteflow-")
    else:
        command = [sys.executable, "-m", f"benchmarks.{_PEERS[side]}", broker, "quotes",
                   _output(side), f"{side}-group"]  # fmt: skip
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, preexec_fn=_own_core)  # fmt: skip


def _await_assignment(side: str, proc: subprocess.Popen) -> None:
    """Wait until the enrich process owns its partitions (a group join takes a moment)."""
    if side == "quix":
        time.sleep(12)  # Quix Streams logs nothing at WARNING; give it the same join time
        return
    for line in proc.stderr:
        if "assigned partitions" in line:
            break
    threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep the pipe drained


def _own_core() -> None:
    """Put the enrich process on the last core, away from the broker, producer and reader."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {max(_CORES)})


def _other_cores() -> None:
    """Move this process (and the brokers it starts) off the enrich process's core."""
    if hasattr(os, "sched_setaffinity") and len(_CORES) > 1:
        os.sched_setaffinity(0, _CORES - {max(_CORES)})


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()


def _output(side: str) -> str:
    return "quotes.enriched" if side.startswith("quoteflow") else f"{side}.quotes"


def _throughput(broker: str, side: str, count: int) -> float:
    proc = _start(side, broker)
    threading.Thread(target=proc.stderr.read, daemon=True).start()
    try:
        seen = _read(broker, _output(side), count, timeout_s=180)
    finally:
        _stop(proc)
    arrivals = np.sort(seen[:, 0])
    return (count - 1) / ((arrivals[-1] - arrivals[0]) / 1e9)


def _latency(side: str, quotes: list[Quote], rate_per_s: int) -> tuple[float, float]:
    """p50 and p99 in ms from ``ts_recv`` to readable, on a fresh broker, after 2 s warm-up."""
    with KafkaBroker() as kafka:
        broker = kafka.address
        _create_topics(broker, ["quotes", "trades", _output(side)])
        proc = _start(side, broker)
        try:
            _await_assignment(side, proc)
            time.sleep(1)
            sender = threading.Thread(target=_produce, args=(broker, quotes, rate_per_s))
            sender.start()
            seen = _read(broker, _output(side), len(quotes), timeout_s=120)
            sender.join()
        finally:
            _stop(proc)
    delays_ms = (seen[:, 0] - seen[:, 1]) / 1e6
    steady = delays_ms[2 * rate_per_s :]
    return float(np.percentile(steady, 50)), float(np.percentile(steady, 99))


SIDES = ("quoteflow-transaction", "quoteflow-idempotent", "quix", "copy")
_PEERS = {"quix": "quix_enrich", "copy": "kafka_copy"}  # module in benchmarks/ of each peer


def bench_kafka(count: int = 100_000, rate_per_s: int = 10_000, seconds: int = 12) -> KafkaFigures:
    """Measure every side; ``count`` quotes for throughput, ``rate_per_s`` for ``seconds``."""
    _other_cores()
    quotes, _ = _quotes(max(count, rate_per_s * seconds), INSTRUMENTS)
    paced = quotes[: rate_per_s * seconds]
    sides, failures = [], []
    for side in SIDES:  # a fresh broker each: the quoteflow sides share topic names
        try:
            with KafkaBroker() as kafka:
                broker = kafka.address
                _create_topics(broker, ["quotes", "trades", _output(side)])
                _produce(broker, quotes[:count])
                rate = _throughput(broker, side, count)
            sides.append(Side(side, rate, _latency(side, paced, rate_per_s)))
        except (RuntimeError, BusError) as error:  # one side failing must not lose the whole run
            failures.append(f"{side}: {error}")
            sides.append(Side(side, math.nan, (math.nan, math.nan)))
    return KafkaFigures(quotes=count, rate_per_s=rate_per_s, sides=sides, failures=failures)


if __name__ == "__main__":
    print(bench_kafka(count=int(sys.argv[1]) if len(sys.argv) > 1 else 100_000))
