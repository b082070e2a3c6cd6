import gzip

import pytest

from quoteflow.errors import RecordFileError
from quoteflow.events import News, Quote, Trade
from quoteflow.formats.records import read_records, write_records

RECORDS = [
    Quote(
        "ALPACA",
        "AAPL",
        1_614_009_105_335_689_322,
        1_614_009_105_400_000_000,
        87.66,
        1.0,
        87.68,
        4.0,
        "U",
        "Q",
        ("R", "@"),
        "C",
    ),
    Quote("ALPACA", "MSFT", 1_614_009_105_335_689_323, 1_614_009_105_400_000_001, bid_price=1.5),
]


@pytest.mark.parametrize("name", ["q.parquet", "q.csv", "q.csv.gz"])
def test_write_then_read_gives_the_same_records(tmp_path, name):
    write_records(tmp_path / name, RECORDS)
    assert read_records(tmp_path / name) == RECORDS


def test_csv_gz_is_gzip(tmp_path):
    write_records(tmp_path / "q.csv.gz", RECORDS)
    with gzip.open(tmp_path / "q.csv.gz") as text:
        assert text.read().startswith(b'"provider"')


def test_news_with_instrument_lists_round_trips_through_csv(tmp_path):
    news = [News("ALPACA", "AAPL", 5, 6, "1", "Headline, with comma", 4, ("AAPL", "MSFT"))]
    write_records(tmp_path / "n.csv", news)
    assert read_records(tmp_path / "n.csv") == news


def test_csv_missing_optional_columns_reads_them_as_null(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(
        "provider,instrument,ts_event,ts_recv,price,size\nX,A,1970-01-01T00:00:00.000000001Z,1970-01-01T00:00:00.000000002Z,1.5,2\n"
    )
    (trade,) = read_records(path)
    assert trade == Trade("X", "A", 1, 2, 1.5, 2.0)


def test_read_when_required_value_empty_says_which_column(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("provider,instrument,ts_event,ts_recv,price,size\nX,A,,,1.5,2\n")
    with pytest.raises(RecordFileError, match="ts_event"):
        read_records(path)


def test_read_when_columns_match_nothing_says_so(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(RecordFileError, match="match no record type"):
        read_records(path)


def test_unknown_suffix_and_missing_file_are_clear_errors(tmp_path):
    with pytest.raises(RecordFileError, match="unknown file type"):
        write_records(tmp_path / "q.txt", RECORDS)
    with pytest.raises(RecordFileError, match="no such file"):
        read_records(tmp_path / "nope.parquet")
