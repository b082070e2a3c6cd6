"""The broker's floor in the Kafka benchmark: copy each input record to the output, no work.

Usage: ``python -m benchmarks.kafka_copy BROKER INPUT OUTPUT GROUP``. A consumer
group member with the client settings quoteflow's stages use on the test broker
(``fetch.wait.max.ms`` from ``QUOTEFLOW_BUS__FETCH_WAIT_MS``, ``linger.ms`` 1)
produces every message it reads, unchanged, to OUTPUT. Its latency and rate are
what two broker hops cost before any enrichment: no process can do better on
this broker.
"""

from __future__ import annotations

import os
import sys

from confluent_kafka import Consumer, Producer

from quoteflow.bus.kafka.messages import consume


def main(broker: str, source: str, target: str, group: str) -> None:
    """Copy until killed; print ``assigned partitions`` to stderr once the group assigns them."""
    consumer = Consumer({
        "bootstrap.servers": broker, "group.id": group, "auto.offset.reset": "earliest",
        "fetch.wait.max.ms": int(os.environ.get("QUOTEFLOW_BUS__FETCH_WAIT_MS", "100")),
        "log_level": 0,
    })  # fmt: skip
    producer = Producer({"bootstrap.servers": broker, "linger.ms": 1, "log_level": 0})

    def assigned(_consumer: Consumer, _partitions: list) -> None:
        print("assigned partitions", file=sys.stderr, flush=True)

    consumer.subscribe([source], on_assign=assigned)
    while True:
        for message in consume(consumer, 1000, 0.05):
            if message.error():
                continue
            while True:
                try:
                    producer.produce(target, message.value(), message.key(),
                                     headers=message.headers())  # fmt: skip
                    break
                except BufferError:
                    producer.poll(0.01)
        producer.poll(0)


if __name__ == "__main__":
    main(*sys.argv[1:5])
