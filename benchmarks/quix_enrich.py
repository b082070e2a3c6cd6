"""The enrichment job as a Quix Streams application, the peer in the Kafka benchmark.

Usage: ``python -m benchmarks.quix_enrich BROKER INPUT OUTPUT GROUP``. It reads
msgpack quotes from INPUT and, per record as a Quix Streams user writes it,
keeps one-minute candles of the mid with SMA 20, SMA 50 and RSI 14 on the
closed ones per instrument (the hand-written incremental indicators of
``benchmarks/peers/plain_loop.py``), and writes each enriched quote as msgpack
to OUTPUT. At-least-once: Quix Streams' exactly-once mode gives no output that
read_committed readers see on the test broker.
"""

from __future__ import annotations

import sys

import msgspec
from quixstreams import Application

from benchmarks.peers.plain_loop import Instrument
from quoteflow.events import Quote


def main(broker: str, source: str, target: str, group: str) -> None:
    """Run the application until it is killed."""
    states: dict[str, Instrument] = {}
    decode = msgspec.msgpack.Decoder(Quote).decode
    encode = msgspec.msgpack.Encoder().encode

    def enrich(value: bytes) -> bytes:
        quote = decode(value)
        inst = states.get(quote.instrument)
        if inst is None:
            inst = states[quote.instrument] = Instrument()
        bid, ask = quote.bid_price, quote.ask_price
        mid = (bid + ask) / 2 if bid and ask else None
        if mid is not None:
            inst.add_mid(quote.ts_event, mid)
        return encode({"instrument": quote.instrument, "ts_event": quote.ts_event,
                       "ts_recv": quote.ts_recv, "mid": mid, "sma_20": inst.sma[20],
                       "sma_50": inst.sma[50], "rsi_14": inst.rsi})  # fmt: skip

    app = Application(broker_address=broker, consumer_group=group, auto_offset_reset="earliest",
                      loglevel="WARNING", use_changelog_topics=False)  # fmt: skip
    quotes = app.topic(source, value_deserializer="bytes")
    enriched = app.topic(target, value_serializer="bytes")
    app.dataframe(quotes).apply(enrich).to_topic(enriched)
    app.run()


if __name__ == "__main__":
    main(*sys.argv[1:5])
