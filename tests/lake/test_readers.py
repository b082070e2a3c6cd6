"""Every reader installable here reads one lake type as one table, all providers together.

Quotes of two providers sit under ``provider=`` beside trades of the same
providers: a reader that takes the whole ``refined/`` directory would mix
schemas; each reader is given the type's glob (or the generated catalog) and
must return every row of that type with its partition columns. Daily bars,
kept a file per instrument-year, have ``year`` as their last partition column.
"""

from datetime import date

import duckdb
import polars as pl
import pyarrow.dataset as ds
import pytest

from quoteflow.events import Quote, Trade
from quoteflow.lake import LakeRoot, LakeWriter
from quoteflow.lake.catalog import catalog, type_glob
from quoteflow.lake.coalesce import coalesce
from quoteflow.lake.importer import import_daily_bars

DAYS = (date(2024, 4, 1), date(2024, 4, 2))
OPEN_NS = {DAYS[0]: 1_711_978_200_000_000_000, DAYS[1]: 1_712_064_600_000_000_000}


DAILY = "Date,Ticker,Open,High,Low,Close,Volume\n" + "".join(
    f"{day},{ticker},1,2,0.5,1.5,100\n"
    for day in ("2023-12-28", "2023-12-29", "2024-01-02")
    for ticker in ("AAPL", "MSFT")
)


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> LakeRoot:
    directory = tmp_path_factory.mktemp("readers")
    root = LakeRoot.open(directory / "lake")
    (directory / "daily.csv").write_text(DAILY)
    import_daily_bars(root, directory / "daily.csv", provider="STOOQ", instrument_column="Ticker")
    writer = LakeWriter(root)
    for start in OPEN_NS.values():
        for provider in ("ALPACA", "IG"):
            writer.add([Trade(provider, "AAPL", start + i, start + i, 100.0 + i, 1.0,
                              conditions=("@",) if provider == "ALPACA" else None)
                        for i in range(10)])  # fmt: skip
            writer.add([Quote(provider, "MSFT", start + i, start + i, bid_price=1.0, ask_price=2.0)
                        for i in range(7)])  # fmt: skip
    writer.flush()
    for day in DAYS:
        coalesce(root, day)
    return root


def test_pyarrow_reads_one_type(lake):
    dataset = ds.dataset(_files(lake, "trades"), format="parquet",
                         partitioning=ds.HivePartitioning.discover(infer_dictionary=False),
                         partition_base_dir=lake.join("refined"))  # fmt: skip
    table = dataset.to_table()
    assert table.num_rows == 40
    assert set(table.column("provider").to_pylist()) == {"ALPACA", "IG"}
    assert "conditions" in table.column_names and "bid_price" not in table.column_names


def _files(lake, kind):
    import glob

    return sorted(glob.glob(type_glob(lake, kind)))


def test_polars_reads_one_type(lake):
    frame = pl.scan_parquet(type_glob(lake, "quotes"), hive_partitioning=True).collect()
    assert frame.height == 28
    assert set(frame["provider"]) == {"ALPACA", "IG"}
    assert set(frame["day"]) == {1, 2}
    bars = pl.scan_parquet(type_glob(lake, "bars_1d"), hive_partitioning=True).collect()
    assert bars.height == 6 and set(bars["year"]) == {2023, 2024}


def test_duckdb_reads_one_type(lake):
    files = type_glob(lake, "trades")
    count, providers = duckdb.sql(
        f"SELECT count(*), count(DISTINCT provider) FROM read_parquet('{files}', "
        "hive_partitioning = true) WHERE year = 2024 AND month = 4"
    ).fetchall()[0]
    assert (count, providers) == (40, 2)
    bars = type_glob(lake, "bars_1d")
    assert duckdb.sql(f"SELECT count(*) FROM read_parquet('{bars}', hive_partitioning = true) "
                      "WHERE year = 2023 AND instrument = 'MSFT'").fetchall() == [(2,)]  # fmt: skip


def test_spark_reads_the_view_lake_catalog_defines(lake):
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master("local[1]").appName("quoteflow-lake")
             .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
             .getOrCreate())  # fmt: skip
    try:
        for statement in catalog(lake, "spark").split(";"):
            if statement.strip():
                spark.sql(statement)
        rows = spark.sql("SELECT provider, count(*) AS n FROM trades GROUP BY provider "
                         "ORDER BY provider").collect()  # fmt: skip
        assert [(r.provider, r.n) for r in rows] == [("ALPACA", 20), ("IG", 20)]
        assert spark.sql("SELECT count(*) AS n FROM quotes WHERE day = 2").collect()[0].n == 14
        bars = spark.sql("SELECT year, count(*) AS n FROM bars_1d GROUP BY year ORDER BY year")
        assert [(r.year, r.n) for r in bars.collect()] == [(2023, 4), (2024, 2)]
        first = spark.sql("SELECT min(ts_event) AS t FROM trades").collect()[0].t
        assert first == min(OPEN_NS.values())  # nanoseconds, as a long
    finally:
        spark.stop()


def test_the_athena_and_trino_definitions_name_every_partition(lake):
    athena = catalog(lake, "athena", ["trades"])
    assert "'projection.provider.values' = 'ALPACA,IG'" in athena
    assert "type=trades/instrument=${instrument}" in athena
    assert "`conditions` array<string>" in athena and "`provider`" not in athena.split(")")[0]
    trino = catalog(lake, "trino", ["quotes"])
    assert trino.count("register_partition") == 4
    assert "bid_price double" in trino
    daily = catalog(lake, "athena", ["bars_1d"])
    assert "type=bars_1d/instrument=${instrument}/year=${year}'" in daily
    assert "month" not in daily and "'projection.year.range' = '2023,2024'" in daily
    daily = catalog(lake, "trino", ["bars_1d"])
    assert daily.count("register_partition") == 4 and "month" not in daily
    assert "ARRAY['STOOQ', 'MSFT', '2024'], '" in daily and daily.endswith("year=2024');\n")
