import re
from datetime import date

import pytest

from quoteflow.app.run import lake_topics
from quoteflow.bus import MemoryBus
from quoteflow.enrich import Enricher, PreviousCloses
from quoteflow.enrich.config import EnrichSettings
from quoteflow.events import DeadLetter
from quoteflow.feeds.base import Normalized
from quoteflow.lake import LakeSink, LakeWriter
from quoteflow.lake.coalesce import coalesce
from quoteflow.lake.layout import Partition, refined_path
from quoteflow.lake.query import Lake
from quoteflow.runtime import Pipeline, Stage
from tests.conftest import EventsFeed
from tests.lake.conftest import market_events


async def test_the_lake_sink_records_raw_and_enriched_topics_from_a_pipeline(lake):
    events = market_events(600)
    job = Enricher(EnrichSettings(), PreviousCloses({}))
    topics = ("quotes", "trades", "trades.enriched", "bars.1m")
    sink = LakeSink(topics, LakeWriter(lake, chunk_rows=1000))
    stage = Stage("enrich", ("quotes", "trades"), job)
    await Pipeline(MemoryBus(), [EventsFeed(events, 100)], [stage], [sink]).run()
    views = Lake(lake).views
    assert views == ["raw_bars_1m", "raw_quotes", "raw_trades", "raw_trades_enriched"]
    counts = Lake(lake).read_sql("SELECT count(*) AS n FROM raw_trades_enriched").column("n")
    assert counts[0].as_py() == sum(e.TYPE == "trades" for e in events)


def test_partition_filters_prune_the_files_read(lake):
    writer = LakeWriter(lake)
    writer.add(market_events(300))
    writer.flush()
    day = date(2024, 4, 1)
    coalesce(lake, day)
    broken = lake.join(refined_path(Partition("SYNTHETIC", "quotes", "B/C", day)))
    with open(broken, "wb") as f:
        f.write(b"no parquet here")
    lake_ = Lake(lake)
    one = lake_.read_sql("SELECT count(*) AS n FROM quotes WHERE instrument = 'A' AND day = 1")
    assert one.column("n")[0].as_py() > 0  # the broken B/C file was never opened
    with pytest.raises(Exception, match=r"(?i)parquet"):
        lake_.read_sql("SELECT count(*) FROM quotes")


async def test_chunks_are_flushed_by_age_while_the_input_is_quiet(lake):
    import asyncio

    events = market_events(60)

    class QuietFeed:
        name = "quiet"

        async def stream(self):
            yield Normalized(events)
            await asyncio.Event().wait()  # the feed stays open, with nothing more to say

    sink = LakeSink(("quotes", "trades"), LakeWriter(lake, chunk_age_s=0.2))
    stop = asyncio.Event()
    run = asyncio.create_task(Pipeline(MemoryBus(), [QuietFeed()], sinks=[sink]).run(stop))
    for _ in range(100):
        if len(lake.files("raw")) == 4:
            break
        await asyncio.sleep(0.05)
    written = len(lake.files("raw"))
    stop.set()
    await run
    assert written == 4  # 2 instruments x quotes and trades, before the pipeline stopped


async def test_the_lake_sink_takes_records_delivered_again_only_once(lake):
    from quoteflow.bus import Message

    events = [e for e in market_events(60) if e.TYPE == "quotes"]
    messages = [Message("quotes", 0, offset, e.instrument, e) for offset, e in enumerate(events)]
    writer = LakeWriter(lake, chunk_rows=10_000)
    sink = LakeSink(("quotes",), writer)
    await sink.write(messages[:40])
    await sink.write(messages[20:])  # a rebalance handed the partition back at offset 20
    await sink.close()
    assert writer.rows_written == len(events)


async def test_dead_letters_are_recorded_apart_and_queried_by_day_of_receipt(lake):
    events = market_events(120)
    day_ns = 1_711_929_600_000_000_000  # 2024-04-01 00:00 UTC
    dead = [
        DeadLetter("ALPACA", "normalize", day_ns + 5, "bp", "not a number", '{"bp": "x"}'),
        DeadLetter("ALPACA", "normalize", day_ns - 5, "t", "missing", "{}"),  # the day before
        DeadLetter("IG", "normalize", day_ns + 9, "UTM", "not a time", "1|2|x"),
    ]

    class FeedWithRejects:
        name = "rejects"

        async def stream(self):
            yield Normalized(events[:60], dead[:2])
            yield Normalized(events[60:], dead[2:])

    sink = LakeSink(lake_topics("bars.1m"), LakeWriter(lake))
    await Pipeline(MemoryBus(), [FeedWithRejects()], [], [sink]).run()
    paths = sorted(
        re.sub(r"_[0-9a-f]{16}\.parquet$", ".parquet", lake.relative(info.path))
        for info in lake.files("dead_letters")
    )  # the digests differ per content

    def chunk(provider, day, ns):
        return f"dead_letters/source=primary/provider={provider}/year=2024/{day}/{ns}_{ns}.parquet"

    assert paths == [
        chunk("ALPACA", "month=3/day=31", day_ns - 5),
        chunk("ALPACA", "month=4/day=1", day_ns + 5),
        chunk("IG", "month=4/day=1", day_ns + 9),
    ]
    query = Lake(lake)
    rows = query.read_sql(
        "SELECT provider, field, reason, payload, source FROM dead_letters "
        "WHERE year = 2024 AND month = 4 AND day = 1 ORDER BY ts_recv"
    ).to_pylist()
    assert rows == [
        {"provider": "ALPACA", "field": "bp", "reason": "not a number", "payload": '{"bp": "x"}',
         "source": "primary"},
        {"provider": "IG", "field": "UTM", "reason": "not a time", "payload": "1|2|x",
         "source": "primary"},
    ]  # fmt: skip
    summary = {(row["view"], row["day"]): row for row in query.summary()}
    assert summary[("dead_letters", "2024-04-01")]["rows"] == 2
    assert summary[("dead_letters", "2024-04-01")]["instruments"] == 0
    # dead letters are no instrument-day: coalescing and retention leave them alone
    assert all(r.partition.type != "dead_letters" for r in coalesce(lake, date(2024, 4, 1)))
    assert len(list(lake.files("dead_letters"))) == 3
