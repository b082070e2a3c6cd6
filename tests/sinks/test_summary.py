from quoteflow.bus.base import Message
from quoteflow.events import EnrichedQuote, to_batch
from quoteflow.sinks import SummarySink


async def test_the_summary_keeps_each_instruments_newest_enriched_quote_and_counts_all():
    quotes = [EnrichedQuote("S", name, ts, ts, bid_price=float(ts))
              for ts, name in enumerate(["A", "B", "A", "C", "B", "A"])]  # fmt: skip
    batch = to_batch(quotes)
    sink = SummarySink("bars.1m")
    await sink.write([Message("quotes.enriched", 0, 0, "A", batch, batch.num_rows)])
    assert {name: q.bid_price for name, q in sink.quotes.items()} == {"A": 5.0, "B": 4.0, "C": 3.0}
    assert sink.seen["quotes.enriched"] == 6
