"""The enrichment job as a Quix Streams application, the peer in the Kafka benchmark.

Usage: ``python -m benchmarks.quix_enrich BROKER INPUT OUTPUT GROUP``. It reads
msgpack quotes from INPUT, runs quoteflow's own enrichment job on each one (the
same code and settings as ``quoteflow run enrich``, so both sides do the same
work) with one job state per instrument, and writes the enriched quotes as
msgpack to OUTPUT. At-least-once: Quix Streams' exactly-once mode gives no
output that read_committed readers see on the test broker.
"""

from __future__ import annotations

import sys

import msgspec
from quixstreams import Application

from quoteflow.config import EnrichSettings
from quoteflow.enrich import Enricher, PreviousCloses
from quoteflow.events import Quote, from_batch


def main(broker: str, source: str, target: str, group: str) -> None:
    """Run the application until it is killed."""
    job = Enricher(EnrichSettings(), PreviousCloses({}))
    states: dict[str, object] = {}
    decode = msgspec.msgpack.Decoder(Quote).decode
    encode = msgspec.msgpack.Encoder().encode

    def enrich(value: bytes) -> list[bytes]:
        quote = decode(value)
        state = states.get(quote.instrument)
        if state is None:
            state = job.initial_state()
        outputs, states[quote.instrument] = job.process([quote], state)
        enriched = [batch for topic, batch in outputs if topic == "quotes.enriched"]
        return [encode(record) for batch in enriched for record in from_batch(batch)]

    app = Application(broker_address=broker, consumer_group=group, auto_offset_reset="earliest",
                      loglevel="WARNING", use_changelog_topics=False)  # fmt: skip
    quotes = app.topic(source, value_deserializer="bytes")
    enriched = app.topic(target, value_serializer="bytes")
    app.dataframe(quotes).apply(enrich, expand=True).to_topic(enriched)
    app.run()


if __name__ == "__main__":
    main(*sys.argv[1:5])
