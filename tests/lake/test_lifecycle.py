"""Nothing is lost over a lake's life: late data, expiry, re-coalescing, damage, kills."""

import os
import time
from datetime import date, timedelta
from pathlib import Path

import pyarrow.parquet as pq

from quoteflow.events import Trade, from_batch
from quoteflow.lake import Partition
from quoteflow.lake.coalesce import (
    REFINED_FROM_KEY,
    chunk_key,
    coalesce,
    pending_days,
    raw_files,
    refined_sources,
)
from quoteflow.lake.layout import refined_path
from quoteflow.lake.retention import expire
from tests.lake.test_coalesce import DAY, record

PARTITION = Partition("ALPACA", "trades", "AAPL", DAY)
TODAY = DAY + timedelta(days=40)
OPEN_NS = 1_711_978_200_000_000_000  # 2024-04-01 13:30 UTC


def trades(first: int, count: int) -> list[Trade]:
    at = [OPEN_NS + i * 1_000_000 for i in range(first, first + count)]
    return [Trade("ALPACA", "AAPL", ts, ts + 7, 100.0 + i % 50, 1.0, trade_id=str(i))
            for i, ts in enumerate(at, start=first)]  # fmt: skip


def chunk_keys(lake) -> set[str]:
    return {chunk_key(source, path) for sources in raw_files(lake).values()
            for source, paths in sources.items() for path in paths}  # fmt: skip


def damage_pages(path) -> bytes:
    """Zero every data page of a Parquet file, keeping its footer; return the new bytes."""
    data = bytearray(Path(path).read_bytes())
    footer = int.from_bytes(data[-8:-4], "little")
    data[4 : len(data) - 8 - footer] = bytes(len(data) - 12 - footer)
    Path(path).write_bytes(bytes(data))
    return bytes(data)


def refined_ids(lake) -> list[str]:
    table = pq.read_table(lake.join(refined_path(PARTITION)))
    return sorted(t.trade_id for t in from_batch(table))


def test_late_data_is_pending_kept_by_expire_and_refined_next_time(lake):
    record(lake, "primary", trades(0, 1_000))
    coalesce(lake, DAY)
    assert pending_days(lake, TODAY) == []
    record(lake, "primary", trades(1_000, 472))  # still flushing after midnight
    assert pending_days(lake, TODAY) == [DAY]
    report = expire(lake, timedelta(days=30), TODAY)
    assert report.kept == [PARTITION]
    late = raw_files(lake)[PARTITION]["primary"]
    assert len(late) >= 1
    (again,) = coalesce(lake, DAY)
    assert again.total == 1_472 and again.from_refined == 1_000
    assert refined_ids(lake) == sorted(str(i) for i in range(1_472))
    assert pending_days(lake, TODAY) == []
    expire(lake, timedelta(days=30), TODAY)
    assert raw_files(lake) == {}


def test_recoalescing_after_expiry_keeps_every_row(lake):
    record(lake, "primary", trades(0, 1_000))
    record(lake, "replica", trades(0, 1_000))
    coalesce(lake, DAY)
    first = chunk_keys(lake)
    expire(lake, timedelta(days=30), TODAY)
    assert raw_files(lake) == {}
    record(lake, "replica", trades(1_000, 10))  # a back-fill
    late = chunk_keys(lake)
    (report,) = coalesce(lake, DAY)
    assert report.total == 1_010 and report.from_refined == 1_000
    assert refined_ids(lake) == sorted(str(i) for i in range(1_010))
    path = lake.join(refined_path(PARTITION))
    assert refined_sources(lake, path) == first | late
    assert pq.read_metadata(path).metadata[REFINED_FROM_KEY]  # the file it merged


def test_coalescing_again_with_nothing_new_finds_the_day_up_to_date(lake):
    record(lake, "primary", trades(0, 300))
    record(lake, "replica", trades(100, 300))
    (first,) = coalesce(lake, DAY)
    path = lake.join(refined_path(PARTITION))
    written = Path(path).read_bytes()
    (second,) = coalesce(lake, DAY)
    assert first.total == second.total == 400
    assert (second.primary_only, second.both, second.from_refined) == (0, 0, 400)
    assert Path(path).read_bytes() == written  # not written again
    assert refined_ids(lake) == sorted(str(i) for i in range(400))


def test_an_unreadable_refined_file_whose_chunks_are_gone_is_refused(lake):
    record(lake, "primary", trades(0, 200))
    coalesce(lake, DAY)
    expire(lake, timedelta(days=30), TODAY)
    record(lake, "primary", trades(200, 5))
    path = lake.join(refined_path(PARTITION))
    damaged = damage_pages(path)
    (report,) = coalesce(lake, DAY)
    assert report.refused is not None and "chunks it lists are gone" in report.refused
    assert Path(path).read_bytes() == damaged  # left as it was


def test_an_unreadable_refined_file_is_rebuilt_when_its_chunks_are_all_there(lake):
    record(lake, "primary", trades(0, 200))
    coalesce(lake, DAY)
    damage_pages(lake.join(refined_path(PARTITION)))
    (report,) = coalesce(lake, DAY)
    assert report.refused is None and report.total == 200
    assert "rebuilt from its chunks" in report.skipped[0][1]
    assert refined_ids(lake) == sorted(str(i) for i in range(200))


def test_a_refined_file_from_before_sources_were_recorded_is_pending_once(lake):
    record(lake, "primary", trades(0, 50))
    coalesce(lake, DAY)
    path = lake.join(refined_path(PARTITION))
    legacy = pq.read_table(path)
    pq.write_table(legacy.replace_schema_metadata({}), path)
    assert pending_days(lake, TODAY) == [DAY]
    assert expire(lake, timedelta(days=30), TODAY).kept == [PARTITION]
    coalesce(lake, DAY)
    assert pending_days(lake, TODAY) == []
    assert refined_ids(lake) == sorted(str(i) for i in range(50))
    assert date.today() > DAY


def test_temporary_files_of_killed_writers_are_cleaned_up(lake):
    record(lake, "primary", trades(0, 10))
    (chunk,) = raw_files(lake)[PARTITION]["primary"]
    directory = Path(chunk).parent
    stale = directory / ".left-by-a-kill.parquet.0123.tmp"
    fresh = directory / ".being-written.parquet.4567.tmp"
    stale.write_bytes(b"half a chunk")
    fresh.write_bytes(b"a write going on")
    os.utime(stale, (time.time() - 3_600, time.time() - 3_600))
    record(lake, "primary", trades(10, 10))  # the next writer of that partition
    assert not stale.exists() and fresh.exists()
    os.utime(fresh, (time.time() - 3_600, time.time() - 3_600))
    report = expire(lake, timedelta(days=30), TODAY)
    assert report.temporaries == 1 and not fresh.exists()
