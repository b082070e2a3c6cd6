from datetime import date

import pyarrow.parquet as pq
import pytest
from pyarrow.fs import FileSelector

from quoteflow.events import Bar, EnrichedQuote, Quote, Trade, from_batch, to_batch
from quoteflow.lake import LakeWriter, Partition
from quoteflow.lake.layout import (
    csv_name,
    lake_type,
    parse_partition,
    raw_chunk_path,
    record_class,
    refined_path,
)
from tests.lake.conftest import market_events

DAY = date(2024, 4, 1)


def test_paths_follow_the_hive_layout_without_zero_padding_and_encode_slashes():
    p = Partition("IG", "quotes", "CS.D.BITCOIN.CFE.IP", date(2023, 11, 2))
    assert refined_path(p) == (
        "refined/provider=IG/type=quotes/instrument=CS.D.BITCOIN.CFE.IP/year=2023/month=11/day=2/"
        "IG_quotes_CS.D.BITCOIN.CFE.IP_2023_11_02.parquet"
    )
    assert csv_name(p) == "IG_quotes_CS.D.BITCOIN.CFE.IP_2023_11_02"
    crypto = Partition("ALPACA", "trades", "BTC/USD", DAY)
    path = raw_chunk_path("replica", crypto, 5, 9)
    assert "instrument=BTC%2FUSD/year=2024/month=4/day=1/5_9.parquet" in path
    assert parse_partition(path) == ("replica", crypto)
    with pytest.raises(ValueError, match="source"):
        raw_chunk_path("backup", crypto, 1, 2)


def test_topics_map_to_lake_types_and_back_to_record_classes():
    assert lake_type("quotes.enriched") == "quotes_enriched"
    assert lake_type("bars.5m/1m") == "bars_5m_1m"
    assert record_class("quotes_enriched") is EnrichedQuote
    assert record_class("bars_1d") is Bar
    assert record_class("trades") is Trade
    with pytest.raises(KeyError):
        record_class("nonsense")


def chunk_files(lake, source="primary"):
    return sorted(i.path for i in lake.files(f"raw/source={source}"))


def test_chunks_flush_at_the_size_and_age_limits_named_by_first_and_last_timestamps(lake):
    now = [0.0]
    writer = LakeWriter(lake, chunk_rows=100, chunk_age_s=60, clock=lambda: now[0])
    events = [e for e in market_events(600) if isinstance(e, Quote) and e.instrument == "A"]
    writer.add(events[:250])
    assert len(chunk_files(lake)) == 1  # one chunk of 250 >= 100: the whole buffer goes
    writer.add(events[250:260])
    now[0] = 59.0
    writer.tick()
    assert len(chunk_files(lake)) == 1
    now[0] = 60.0
    writer.tick()
    files = chunk_files(lake)
    assert len(files) == 2
    first = pq.read_table(files[0])
    name = files[0].rsplit("/", 1)[1]
    ts = first.column("ts_event").cast("int64").to_pylist()
    assert name == f"{min(ts)}_{max(ts)}.parquet"
    assert first.schema.field("ts_event").type.unit == "ns"
    assert pq.ParquetFile(files[0]).metadata.row_group(0).column(0).compression == "ZSTD"


def test_writing_a_chunk_again_replaces_it_and_leaves_no_temporary_files(lake):
    events = market_events(300)
    for _ in range(2):
        writer = LakeWriter(lake)
        writer.add(events)
        writer.flush()
    files = [i for i in lake.files("raw")]
    assert len(files) == 4  # 2 instruments x quotes/trades, each written twice under one name
    everything = lake.filesystem.get_file_info(FileSelector(lake.path, recursive=True))
    assert not [i for i in everything if i.base_name.startswith(".")]


def test_arrow_batches_and_records_give_the_same_chunks(tmp_path):
    from quoteflow.lake import LakeRoot

    events = market_events(300)
    quotes = [e for e in events if isinstance(e, Quote)]
    by_records, by_batches = LakeRoot.open(tmp_path / "a"), LakeRoot.open(tmp_path / "b")
    writer = LakeWriter(by_records)
    writer.add(quotes)
    writer.flush()
    writer = LakeWriter(by_batches)
    writer.add_batch(to_batch(quotes))
    writer.flush()
    names = [
        [i.path.split("/raw/")[1] for i in root.files("raw")] for root in (by_records, by_batches)
    ]
    assert sorted(names[0]) == sorted(names[1])
    for name in names[0]:
        a = from_batch(pq.read_table(f"{by_records.path}/raw/{name}"))
        b = from_batch(pq.read_table(f"{by_batches.path}/raw/{name}"))
        assert a == b


def test_durable_offset_is_the_first_record_still_buffered(lake):
    events = [e for e in market_events(600) if isinstance(e, Quote)]
    writer = LakeWriter(lake, chunk_rows=10_000, checkpoint="test")
    a = [e for e in events if e.instrument == "A"][:50]
    b = [e for e in events if e.instrument == "B/C"][:50]
    writer.add(a)
    writer.add(b)
    assert writer.durable_offset() == 0
    writer._flush(Partition("SYNTHETIC", "quotes", "A", DAY))
    assert writer.durable_offset() == 50
    assert writer.resume_offset() == 50
    writer.flush()
    assert writer.resume_offset() == 100


@pytest.mark.parametrize("split", [1, 7, 33])
def test_bars_are_stored_per_period(lake, split):
    bars = [Bar("T", "X", 10**18 + i, 10**18 + i, "1m", 1, 2, 0.5, 1.5, 10) for i in range(40)]
    writer = LakeWriter(lake)
    for start in range(0, len(bars), split):
        writer.add(bars[start : start + split])
    writer.flush()
    assert {parse_partition(i.path)[1].type for i in lake.files("raw")} == {"bars_1m"}
