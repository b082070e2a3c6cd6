"""The bus side of the gateway: a sink that publishes the enriched topics to the hub."""

from __future__ import annotations

from itertools import groupby

import msgspec

from quoteflow.bus.base import Message, records_of
from quoteflow.events import Event
from quoteflow.gateway.hub import Hub
from quoteflow.gateway.metrics import GatewayMetrics
from quoteflow.reference import reference_json

__all__ = ["GatewaySink", "encode_record"]

_encoder = msgspec.json.Encoder()


def encode_record(channel: str, sequence: int, event: Event) -> bytes:
    """Return a record as subscribers get it: channel and sequence, then the reference record.

    >>> from quoteflow.events import Alert
    >>> encode_record("alerts", 7, Alert("alpaca", "AMZN", 1_000_000, 2_000_000, "rsi", "up"))
    ... # doctest: +ELLIPSIS
    b'{"channel":"alerts","seq":7,"provider":"alpaca","type":"alerts","instrument":"AMZN",...}'
    """
    head = b'{"channel":' + _encoder.encode(channel) + b',"seq":%d,' % sequence
    return head + reference_json(event, keyed=True)[1:]


def _topic(message: Message) -> str:
    return message.topic


class GatewaySink:
    """Publish every record of ``channels`` to ``hub``, keyed by instrument, in batches.

    ``name`` names its consumer group (``sink:<name>``): on Kafka each gateway
    process needs a name of its own to see every partition.
    """

    def __init__(
        self,
        hub: Hub,
        channels: tuple[str, ...],
        metrics: GatewayMetrics,
        *,
        name: str = "gateway",
    ) -> None:
        self.name = name
        self.hub = hub
        self.topics = channels
        self._metrics = metrics

    async def write(self, messages: list[Message]) -> None:
        """Publish runs of one topic together (the order across topics is kept)."""
        for channel, run in groupby(messages, key=_topic):
            records = [(record.instrument, record) for record in records_of(run)]
            self.hub.publish(channel, records, encode_record)
            self._metrics.published[channel] += len(records)

    async def close(self) -> None:
        """Nothing is buffered here: the hub keeps what it keeps."""
