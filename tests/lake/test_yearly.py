"""Daily bars are refined a file per instrument-year, imported or recorded, and lose nothing."""

from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from quoteflow.errors import RecordFileError
from quoteflow.events import Bar, arrow_schema
from quoteflow.lake import LakeWriter
from quoteflow.lake.coalesce import coalesce, pending_days
from quoteflow.lake.importer import import_daily_bars
from quoteflow.lake.layout import Partition, refined_path
from quoteflow.lake.query import Lake
from quoteflow.lake.retention import expire
from quoteflow.lake.writer import chunk_bytes

from .conftest import S

FIXTURES = Path(__file__).parents[1] / "fixtures"
DAY_NS = 86_400 * S


def _refined(lake) -> list[str]:
    return sorted(lake.relative(info.path) for info in lake.files("refined"))


def _closes(lake, instrument="AAPL") -> dict[str, float]:
    rows = Lake(lake).read_sql(f"SELECT strftime(ts_event, '%Y-%m-%d') AS d, close FROM bars_1d "
                          f"WHERE instrument = '{instrument}' ORDER BY d").to_pylist()  # fmt: skip
    return {row["d"]: row["close"] for row in rows}


def test_an_import_writes_one_file_per_instrument_and_year(lake):
    report = import_daily_bars(lake, FIXTURES / "stocks" / "AAPL.csv", provider="STOOQ",
                               instrument="AAPL")  # fmt: skip
    assert (report.rows, report.files) == (1047, 5)  # 2009 to 2013
    assert _refined(lake) == [
        f"refined/provider=STOOQ/type=bars_1d/instrument=AAPL/year={year}/"
        f"STOOQ_bars_1d_AAPL_{year}.parquet"
        for year in range(2009, 2014)
    ]
    assert len(_closes(lake)) == 1047


def test_importing_part_of_a_year_again_replaces_only_its_sessions(lake, tmp_path):
    whole = FIXTURES / "stocks" / "AAPL.csv"
    import_daily_bars(lake, whole, provider="STOOQ", instrument="AAPL")
    before = _closes(lake)
    again = tmp_path / "fix.csv"
    again.write_text("date,open,high,low,close,volume\n2012-12-28,1,1,1,1,1\n"
                     "2012-12-31,2,2,2,2,2\n")  # fmt: skip
    report = import_daily_bars(lake, again, provider="STOOQ", instrument="AAPL")
    assert (report.rows, report.files) == (2, 1)
    after = _closes(lake)
    assert len(after) == len(before)
    assert (after["2012-12-28"], after["2012-12-31"]) == (1.0, 2.0)
    changed = {d for d in before if before[d] != after[d]}
    assert changed == {"2012-12-28", "2012-12-31"}


def test_an_import_takes_in_the_daily_files_of_an_older_lake(lake, tmp_path):
    legacy = Partition("STOOQ", "bars_1d", "AAPL", date(2012, 12, 27))
    old_row = Bar("STOOQ", "AAPL", 1_356_618_600 * S, 1_356_618_600 * S, "1d", 5, 6, 4, 5.5, 10)
    path = lake.join(f"refined/{legacy.directory()}/STOOQ_bars_1d_AAPL_2012_12_27.parquet")
    lake.write_atomic(path, chunk_bytes(_table([old_row])))
    csv = tmp_path / "one.csv"
    csv.write_text("date,open,high,low,close,volume\n2012-12-28,1,1,1,1,1\n")
    import_daily_bars(lake, csv, provider="STOOQ", instrument="AAPL")
    assert _refined(lake) == [refined_path(legacy._replace(day=date(2012, 1, 1)))]
    assert _closes(lake) == {"2012-12-27": 5.5, "2012-12-28": 1.0}


def test_an_unreadable_year_is_never_overwritten_by_an_import(lake, tmp_path):
    import_daily_bars(lake, FIXTURES / "stocks" / "AAPL.csv", provider="STOOQ",
                      instrument="AAPL")  # fmt: skip
    target = lake.join(refined_path(Partition("STOOQ", "bars_1d", "AAPL", date(2012, 1, 1))))
    lake.write_atomic(target, b"not parquet")
    csv = tmp_path / "one.csv"
    csv.write_text("date,open,high,low,close,volume\n2012-12-28,1,1,1,1,1\n")
    with pytest.raises(RecordFileError, match="cannot be read"):
        import_daily_bars(lake, csv, provider="STOOQ", instrument="AAPL")
    assert lake.read(target) == b"not parquet"


def test_an_import_refuses_a_type_that_is_not_daily_bars(lake):
    with pytest.raises(ValueError, match="not one of daily bars"):
        import_daily_bars(lake, FIXTURES / "stocks" / "AAPL.csv", provider="STOOQ",
                          instrument="AAPL", kind="bars_1m")  # fmt: skip


def _table(bars: list[Bar]) -> pa.Table:
    schema = arrow_schema(Bar)
    return pa.Table.from_pylist([{f: getattr(b, f) for f in schema.names} for b in bars], schema)


def _live_bars(day_ns: int, updates: int = 3) -> list[Bar]:
    """A day's bar of a live feed, updated through the day (the last one final)."""
    return [Bar("ALPACA", "AAPL", day_ns, day_ns + i * S, "1d", 100, 101 + i, 99, 100.5 + i,
                1000.0 * (i + 1), final=i == updates - 1)
            for i in range(updates)]  # fmt: skip


def test_recorded_daily_bars_gather_in_their_year_and_survive_expiry(lake):
    first = 1_711_978_200 * S  # 2024-04-01 13:30 UTC
    writer = LakeWriter(lake)
    writer.add(_live_bars(first))
    writer.flush()
    assert pending_days(lake, date(2024, 4, 3)) == [date(2024, 4, 1)]
    [report] = coalesce(lake, date(2024, 4, 1))
    assert report.partition.day == date(2024, 1, 1) and report.total == 3
    assert pending_days(lake, date(2024, 4, 3)) == []
    deleted = expire(lake, timedelta(days=1), date(2024, 4, 3)).deleted
    assert len(deleted) == 1
    writer.add(_live_bars(first + DAY_NS))
    writer.flush()
    assert pending_days(lake, date(2024, 4, 3)) == [date(2024, 4, 2)]
    [report] = coalesce(lake, date(2024, 4, 2))
    assert (report.from_refined, report.total) == (3, 6)
    [path] = _refined(lake)
    assert path.endswith("year=2024/ALPACA_bars_1d_AAPL_2024.parquet")
    assert pq.read_table(lake.join(path)).num_rows == 6
    [again] = coalesce(lake, date(2024, 4, 2))
    assert again.total == 6


def test_coalescing_takes_in_the_daily_files_of_an_older_lake(lake):
    first = 1_711_978_200 * S
    writer = LakeWriter(lake)
    writer.add(_live_bars(first) + _live_bars(first + DAY_NS))
    writer.flush()
    [report] = coalesce(lake, date(2024, 4, 1))
    yearly = lake.join(refined_path(report.partition))
    older = Partition("ALPACA", "bars_1d", "AAPL", date(2024, 4, 1))
    legacy = lake.join(f"refined/{older.directory()}/ALPACA_bars_1d_AAPL_2024_04_01.parquet")
    lake.write_atomic(legacy, lake.read(yearly))
    lake.delete(yearly)
    assert pending_days(lake, date(2024, 4, 5)) == [date(2024, 4, 1), date(2024, 4, 2)]
    assert not expire(lake, timedelta(days=1), date(2024, 4, 5)).deleted  # no year file yet
    writer.add(_live_bars(first + 2 * DAY_NS))
    writer.flush()
    [report] = coalesce(lake, date(2024, 4, 3))
    assert report.total == 9  # the daily file's 6 rows are its chunks' rows: not doubled
    assert _refined(lake) == [lake.relative(yearly)]
    assert pending_days(lake, date(2024, 4, 5)) == []
