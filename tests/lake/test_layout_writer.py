import pathlib
from datetime import date
from urllib.parse import unquote

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyarrow.fs import FileSelector

from quoteflow.events import Bar, EnrichedQuote, Quote, Trade, from_batch, to_batch
from quoteflow.lake import LakeWriter, Partition
from quoteflow.lake.layout import (
    content_digest,
    csv_name,
    lake_type,
    parse_partition,
    raw_chunk_path,
    record_class,
    refined_path,
)
from quoteflow.lake.writer import _groups
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
    path = raw_chunk_path("replica", crypto, 5, 9, "00ff00ff00ff00ff")
    assert "instrument=BTC%2FUSD/year=2024/month=4/day=1/5_9_00ff00ff00ff00ff.parquet" in path
    assert parse_partition(path) == ("replica", crypto)
    assert parse_partition(path.replace("_00ff00ff00ff00ff", "")) == ("replica", crypto)
    with pytest.raises(ValueError, match="source"):
        raw_chunk_path("backup", crypto, 1, 2, "00")


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
    digest = content_digest(pathlib.Path(files[0]).read_bytes())
    assert name == f"{min(ts)}_{max(ts)}_{digest}.parquet"
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

    events = market_events(300, instruments=("A", "B/C", "D", "E"))
    quotes = [e for e in events if isinstance(e, Quote)]
    roots = [LakeRoot.open(tmp_path / name) for name in ("records", "batches", "one_thread")]
    writer = LakeWriter(roots[0])
    writer.add(quotes)
    writer.flush()
    for root, threads in ((roots[1], 2), (roots[2], 1)):
        writer = LakeWriter(root, threads=threads)
        writer.add_batch(to_batch(quotes))
        writer.flush()
        writer.close()
    names = [sorted(i.path.split("/raw/")[1] for i in root.files("raw")) for root in roots]
    assert len(names[0]) > 2 and names[0] == names[1] == names[2]
    for name in names[0]:
        a, b, c = (from_batch(pq.read_table(f"{root.path}/raw/{name}")) for root in roots)
        assert a == b == c


def test_a_chunk_that_cannot_be_written_fails_the_flush_after_the_others_are_written(tmp_path):
    from quoteflow.lake import LakeRoot

    events = market_events(300, instruments=("A", "B/C", "D", "E"))
    quotes = [e for e in events if isinstance(e, Quote)]
    lake = LakeRoot.open(tmp_path)
    blocked = quotes[0]
    where = tmp_path / f"raw/source=primary/provider={blocked.provider}/type=quotes"
    where.mkdir(parents=True)
    (where / f"instrument={blocked.instrument}").write_text("in the way of a directory")
    writer = LakeWriter(lake, checkpoint="blocked")
    writer.add_batch(to_batch(quotes))
    with pytest.raises(OSError):
        writer.flush()
    chunks = [i.path for i in lake.files("raw") if i.path.endswith(".parquet")]
    written = {unquote(path.split("instrument=")[1].split("/")[0]) for path in chunks}
    assert written == {q.instrument for q in quotes} - {blocked.instrument}
    assert writer.resume_offset() == 0  # no checkpoint claims the lost chunk


def test_durable_offset_is_the_first_record_still_buffered(lake):
    events = [e for e in market_events(600) if isinstance(e, Quote)]
    writer = LakeWriter(lake, chunk_rows=10_000, checkpoint="test")
    a = [e for e in events if e.instrument == "A"][:50]
    b = [e for e in events if e.instrument == "B/C"][:50]
    writer.add(a)
    writer.add(b)
    assert writer.durable_offset() == 0
    writer._flush_all([Partition("SYNTHETIC", "quotes", "A", DAY)])
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


@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=2_000))
def test_grouping_a_batch_by_partition_code_agrees_with_numpy_unique(codes):
    codes = np.array(codes, dtype=np.int64)
    expected = np.unique(codes, return_index=True, return_counts=True)
    for got, want in zip(_groups(codes), expected, strict=True):
        assert got.tolist() == want.tolist()


_STRINGS = st.one_of(st.none(), st.sampled_from(["", "A", "B", "AB", "BA", "é"]))


@given(st.lists(_STRINGS, min_size=1, max_size=40), st.integers(1, 4))
def test_a_chunk_reads_back_as_its_table_and_a_repeated_string_is_found(values, pieces):
    from quoteflow.lake._tables import one_string
    from quoteflow.lake.writer import chunk_bytes

    step = -(-len(values) // pieces)
    column = pa.chunked_array(
        [pa.array(values[i : i + step], pa.string()) for i in range(0, len(values), step)]
    )
    distinct = set(values)
    assert one_string(column) == (
        values[0] if len(distinct) == 1 and None not in distinct else None
    )
    schema = pa.schema([pa.field("instrument", pa.string())], metadata={"quoteflow.type": "x"})
    table = pa.table([column], schema=schema)
    stored = pq.read_table(pa.BufferReader(chunk_bytes(table)))
    assert stored.equals(table, check_metadata=True)


def test_chunks_with_the_same_time_range_never_replace_each_other(lake):
    ts = 1_711_980_000_000_000_000  # 2024-04-01 14:00 UTC
    first = Trade("ALPACA", "AAPL", ts, ts + 1, 100.0, 1.0, trade_id="1")
    second = Trade("ALPACA", "AAPL", ts, ts + 2, 100.5, 2.0, trade_id="2")
    for trade in (first, second, first):  # the first recording twice: it replaces itself
        writer = LakeWriter(lake)
        writer.add([trade])
        writer.flush()
        writer.close()
    chunks = lake.files("raw")
    assert len(chunks) == 2
    kept = sorted(t.trade_id for c in chunks for t in from_batch(pq.read_table(c.path)))
    assert kept == ["1", "2"]


def test_one_record_per_chunk_keeps_every_record(lake):
    ts = 1_711_980_000_000_000_000
    trades = [Trade("ALPACA", "AAPL", ts + i // 3, ts + i, 100.0, 1.0, trade_id=str(i))
              for i in range(1_011)]  # fmt: skip
    writer = LakeWriter(lake, chunk_rows=1)
    writer.add(trades)
    writer.flush()
    writer.close()
    kept = [t for c in lake.files("raw") for t in from_batch(pq.read_table(c.path))]
    assert len(kept) == 1_011


def test_buffers_past_the_memory_bound_are_written_largest_first(lake):
    day = 1711980000 * 10**9  # 2024-04-01
    writer = LakeWriter(lake, chunk_rows=1000, max_buffered_rows=500)
    sizes = {"A": 250, "B": 200, "C": 150, "D": 100}
    trades = [Trade("T", name, day + i, day + i, 1.0, 1.0)
              for name, count in sizes.items() for i in range(count)]  # fmt: skip
    writer.add_batch(to_batch(trades))
    assert writer.rows_written == 450  # 700 buffered, over 500: A and B go, 250 stay
    writer.flush()
    assert writer.rows_written == sum(sizes.values())
