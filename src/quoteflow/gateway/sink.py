"""The bus side of the gateway: a sink that publishes the enriched topics to the hub."""

from __future__ import annotations

from itertools import groupby

import msgspec
import pyarrow as pa

from quoteflow.bus.base import Message
from quoteflow.events import Event
from quoteflow.formats.reference import JsonLinesEncoder, reference_json
from quoteflow.gateway.hub import Hub
from quoteflow.gateway.metrics import GatewayMetrics
from quoteflow.sinks.base import Sink

__all__ = ["GatewaySink", "encode_record", "framed"]

_encoder = msgspec.json.Encoder()


def encode_record(channel: str, sequence: int, event: Event) -> bytes:
    """Return a record as subscribers get it: channel and sequence, then the reference record.

    >>> from quoteflow.events import Alert
    >>> encode_record("alerts", 7, Alert("alpaca", "AMZN", 1_000_000, 2_000_000, "rsi", "up"))
    ... # doctest: +ELLIPSIS
    b'{"channel":"alerts","seq":7,"provider":"alpaca","type":"alerts","instrument":"AMZN",...}'
    """
    return framed(channel, sequence, reference_json(event, keyed=True))


def framed(channel: str, sequence: int, line: bytes) -> bytes:
    """Return a keyed reference record's JSON (``line``) as subscribers get it."""
    head = b'{"channel":' + _encoder.encode(channel) + b',"seq":%d,' % sequence
    return head + line[1:]


def _topic(message: Message) -> str:
    return message.topic


class GatewaySink(Sink):
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
        self._lines = JsonLinesEncoder()

    async def write(self, messages: list[Message]) -> None:
        """Publish runs of one topic together (the order across topics is kept).

        An Arrow batch is encoded whole (:class:`JsonLinesEncoder`), each record's
        frame cut from its lines, with no record object made.
        """
        for channel, run in groupby(messages, key=_topic):
            records: list[tuple[str, bytes]] = []
            for message in run:
                value = message.value
                if isinstance(value, pa.RecordBatch):
                    lines = self._lines.lines(value).split(b"\n")[:-1]  # each line ends so
                    names = value.column("instrument").to_pylist()
                    records.extend(zip(names, lines, strict=True))
                else:
                    records.append((value.instrument, reference_json(value, keyed=True)))
            self.hub.publish(channel, records, framed)
            self._metrics.published[channel] += len(records)

    async def close(self) -> None:
        """Nothing is buffered here: the hub keeps what it keeps."""
