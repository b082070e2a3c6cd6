"""Bit rot is caught: pages carry checksums, readers verify them, coalesce uses the replica."""

import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from quoteflow.errors import QueryError
from quoteflow.events import Trade
from quoteflow.lake import Partition
from quoteflow.lake.coalesce import coalesce, raw_files, read_chunk
from quoteflow.lake.layout import refined_path
from quoteflow.lake.query import Lake
from tests.lake.conftest import market_events
from tests.lake.test_coalesce import DAY, record


def _damage(path, rng: random.Random) -> None:
    """Overwrite 8 random bytes among the data pages (after the magic, before the footer)."""
    data = bytearray(Path(path).read_bytes())
    footer = int.from_bytes(data[-8:-4], "little")
    end = len(data) - 8 - footer
    for _ in range(8):
        data[rng.randrange(4, end)] = rng.randrange(256)
    Path(path).write_bytes(bytes(data))


def _flip(path, offset: int = 200) -> None:
    """Invert one byte of a data page."""
    data = bytearray(Path(path).read_bytes())
    data[offset] ^= 0xFF
    Path(path).write_bytes(bytes(data))


def test_every_chunk_page_carries_a_checksum(lake):
    record(lake, "primary", market_events(300))
    path = next(iter(raw_files(lake).values()))["primary"][0]
    metadata = pq.read_metadata(path)
    assert metadata.num_rows > 0
    with open(path, "rb") as handle:
        reader = pq.ParquetFile(handle, page_checksum_verification=True)
        assert reader.read().num_rows == metadata.num_rows


def test_damaged_pages_are_never_read_as_changed_values(lake, tmp_path):
    events = [e for e in market_events(900) if e.instrument == "A" and isinstance(e, Trade)]
    record(lake, "primary", events, chunk_rows=10_000)
    (path,) = raw_files(lake)[Partition("SYNTHETIC", "trades", "A", DAY)]["primary"]
    pristine = Path(path).read_bytes()
    schema = pq.read_schema(path)
    original = read_chunk(lake, path, schema)
    rng = random.Random(7)
    caught = 0
    for _ in range(200):
        Path(path).write_bytes(pristine)
        _damage(path, rng)
        try:
            table = read_chunk(lake, path, schema)
        except ValueError:
            caught += 1
            continue
        assert table.equals(original), "damaged pages were read as changed values"
    assert caught >= 190


def test_coalesce_reports_a_damaged_chunk_and_takes_its_rows_from_the_replica(lake):
    events = [e for e in market_events(900) if e.instrument == "A" and isinstance(e, Trade)]
    record(lake, "primary", events, chunk_rows=10_000)
    record(lake, "replica", events, chunk_rows=10_000)
    partition = Partition("SYNTHETIC", "trades", "A", DAY)
    (damaged,) = raw_files(lake)[partition]["primary"]
    _flip(damaged)
    (report,) = coalesce(lake, DAY, kind="trades", instrument="A")
    assert [path for path, _ in report.skipped] == [lake.relative(damaged)]
    assert report.total == len(events)
    refined = pq.read_table(lake.join(refined_path(partition)), page_checksum_verification=True)
    assert refined.num_rows == len(events)


def test_a_query_over_a_damaged_file_is_an_error_not_wrong_numbers(lake):
    events = [e for e in market_events(300) if isinstance(e, Trade)]
    record(lake, "primary", events, chunk_rows=10_000)
    (path,) = raw_files(lake)[Partition("SYNTHETIC", "trades", "A", DAY)]["primary"]
    _flip(path)
    try:
        result = Lake(lake).read_sql(
            "SELECT sum(price) AS s FROM raw_trades WHERE instrument = 'A'"
        )
    except QueryError:
        return
    expected = sum(e.price for e in events if e.instrument == "A")
    assert result.column("s")[0].as_py() == pa.scalar(expected).as_py()
