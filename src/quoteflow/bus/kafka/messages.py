"""Kafka messages as they come from librdkafka: consuming a batch, reading headers."""

from __future__ import annotations

from typing import Any

from confluent_kafka import Consumer

from quoteflow.bus.codec import SEQUENCE_HEADER

__all__ = ["consume", "header", "sequence_of"]


def consume(consumer: Consumer, max_records: int, timeout_s: float) -> list[Any]:
    """Wait up to ``timeout_s`` for the first message, then take what else is already fetched.

    ``Consumer.consume(n, timeout)`` alone waits the whole timeout unless ``n``
    messages come: at a steady trickle every record would wait that long.
    """
    first = consumer.consume(1, timeout_s)
    if not first or max_records == 1:
        return first
    return first + consumer.consume(max_records - 1, 0)


def header(message: Any, name: str) -> bytes | None:
    """Return the value of header ``name`` of a raw Kafka message, if it has one."""
    for key, value in message.headers() or ():
        if key == name:
            return value
    return None


def sequence_of(message: Any) -> int | None:
    """Return the ``qf-seq`` header of a raw Kafka message as an int, if it has one."""
    value = header(message, SEQUENCE_HEADER)
    return None if value is None else int(value)
