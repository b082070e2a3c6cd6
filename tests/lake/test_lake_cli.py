"""The lake commands as real subprocesses, on a local directory and on S3 (moto, loopback)."""

import csv
import gzip
import io
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from quoteflow.app.sources import previous_closes_in
from quoteflow.enrich import Enricher
from quoteflow.enrich.config import EnrichSettings
from quoteflow.events import DeadLetter, Quote, Trade
from quoteflow.formats.records import write_records
from quoteflow.lake import LakeRoot, LakeWriter
from quoteflow.lake.query import Lake
from tests.conftest import FIXTURES
from tests.lake.conftest import market_events

QUOTEFLOW = [str(Path(sys.executable).parent / "quoteflow")]


def run(*args, env=None):
    return subprocess.run(QUOTEFLOW + list(args), capture_output=True, text=True, timeout=180,
                          env={**os.environ, "COLUMNS": "200", **(env or {})})  # fmt: skip


@pytest.fixture
def feed_files(tmp_path):
    events = market_events(900)
    files = [tmp_path / "quotes.parquet", tmp_path / "trades.parquet"]
    write_records(files[0], [e for e in events if isinstance(e, Quote)])
    write_records(files[1], [e for e in events if isinstance(e, Trade)])
    return events, files


def record_both(root, files, *extra):
    for source in ("primary", "replica"):
        result = run("lake", "record", "--feed", "replay", *map(str, files), "--root", root,
                     "--source", source, "--chunk-rows", "500", *extra)  # fmt: skip
        assert result.returncode == 0, result.stderr


def test_record_coalesce_query_and_expire_on_a_directory(tmp_path, feed_files):
    events, files = feed_files
    root = str(tmp_path / "lake")
    record_both(root, files)
    result = run("lake", "coalesce", "--day", "2024-04-01", "--root", root,
                 "--csv", str(tmp_path / "csv"), "--threads", "3")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "primary only" in result.stdout and "B/C" in result.stdout
    exported = tmp_path / "csv" / "SYNTHETIC_quotes_A_2024_04_01.csv.gz"
    rows = list(csv.DictReader(io.StringIO(gzip.decompress(exported.read_bytes()).decode())))
    assert rows[0]["bidPrice"] and "serverTimestamp" in rows[0]

    result = run("sql", "--root", root, "--format", "json",
                 "SELECT instrument, count(*) AS n FROM quotes GROUP BY 1 ORDER BY 1")  # fmt: skip
    assert result.returncode == 0, result.stderr
    counts = [json.loads(line) for line in result.stdout.splitlines()]
    assert counts == [
        {"instrument": i, "n": sum(isinstance(e, Quote) and e.instrument == i for e in events)}
        for i in ("A", "B/C")
    ]
    result = run("sql", "--root", root, "--format", "csv",
                 "SELECT source, count(*) AS n FROM raw_trades GROUP BY 1 ORDER BY 1")  # fmt: skip
    assert result.stdout.splitlines()[1:] == [
        f'"{s}",{sum(isinstance(e, Trade) for e in events)}' for s in ("primary", "replica")
    ]
    out = tmp_path / "a.parquet"
    assert run("sql", "--root", root, "--format", "parquet", "--output", str(out),
               "SELECT * FROM trades WHERE instrument = 'A'").returncode == 0  # fmt: skip
    assert pq.read_table(out).num_rows == sum(
        isinstance(e, Trade) and e.instrument == "A" for e in events
    )
    bad = run("sql", "--root", root, "SELECT * FROM nothing")
    assert bad.returncode == 2 and "nothing" in bad.stderr

    listing = run("lake", "ls", "--root", root)
    assert "raw_quotes" in listing.stdout and "2024-04-01" in listing.stdout
    chunks = len(LakeRoot.open(root).files("raw"))
    writer = LakeWriter(LakeRoot.open(root))
    writer.add([DeadLetter("SYNTHETIC", "normalize", events[0].ts_recv, "bp", "bad", "{}")])
    writer.flush()
    dry = run("lake", "expire", "--older-than", "30d", "--dry-run", "--root", root)
    assert dry.stdout.count("would delete") == chunks > 8
    dead = ("--dead-letters-older-than", "30d")
    dry = run("lake", "expire", "--older-than", "30d", *dead, "--dry-run", "--root", root)
    assert dry.stdout.count("would delete") == chunks + 1
    bad = run("lake", "expire", "--dead-letters-older-than", "soon", "--root", root)
    assert bad.returncode == 2
    assert "--dead-letters-older-than" in bad.stderr and "a duration like 30d" in bad.stderr
    assert run("lake", "expire", "--older-than", "30d", *dead, "--root", root).returncode == 0
    assert not LakeRoot.open(root).files("raw")
    assert not LakeRoot.open(root).files("dead_letters")


def test_coalesce_all_pending_and_schedule_once(tmp_path, feed_files):
    _, files = feed_files
    root = str(tmp_path / "lake")
    record_both(root, files)
    result = run("lake", "schedule", "--once", "--root", root)
    assert result.returncode == 0 and "SYNTHETIC" in result.stdout
    again = run("lake", "coalesce", "--all-pending", "--root", root)
    assert again.returncode == 0 and "SYNTHETIC" not in again.stdout


def test_import_daily_bars_then_enrich_with_closes_from_the_lake(tmp_path):
    text = (FIXTURES / "stocks" / "AAPL.csv").read_text().splitlines()
    daily = tmp_path / "stocks.csv.gz"
    with gzip.open(daily, "wt") as f:
        f.write("Ticker," + text[0] + "\n")
        f.writelines(f"AAPL,{line}\n" for line in text[1:])
    root = str(tmp_path / "lake")
    result = run("lake", "import", str(daily), "--provider", "BOKEH", "--instrument-column",
                 "Ticker", "--root", root)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"imported {len(text) - 1:,} bars" in result.stderr
    closes = previous_closes_in(root)
    monday = pd.Timestamp("2012-12-31 15:00", tz="UTC").value
    assert closes.lookup("AAPL", monday) == (509.5892, None)  # close of Friday 2012-12-28
    job = Enricher(EnrichSettings(), closes)
    out, _ = job.process([Trade("T", "AAPL", monday, monday, 540.0, 1.0)], job.initial_state())
    assert out[0][1].column("move").to_pylist() == ["Bullish"]


def test_sql_python_api_returns_arrow_pandas_and_polars(lake):
    from quoteflow.lake import LakeWriter
    from quoteflow.lake.coalesce import coalesce

    writer = LakeWriter(lake)
    writer.add(market_events(300))
    writer.flush()
    coalesce(lake, date(2024, 4, 1))
    query = "SELECT count(*) AS n FROM trades WHERE instrument = 'A' AND day = 1"
    api = Lake(lake)
    n = api.read_sql(query).column("n")[0].as_py()
    assert n > 0
    assert int(api.pandas(query)["n"][0]) == n
    assert api.polars(query)["n"][0] == n


def test_every_command_works_on_s3(tmp_path, feed_files, s3_server, s3_bucket):
    events, files = feed_files
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    s3 = ["--root", s3_bucket, "--endpoint-url", s3_server]
    for source in ("primary", "replica"):
        result = run("lake", "record", "--feed", "replay", *map(str, files), *s3,
                     "--source", source, env=env)  # fmt: skip
        assert result.returncode == 0, result.stderr
    assert run("lake", "coalesce", "--day", "2024-04-01", *s3, env=env).returncode == 0
    result = run("sql", *s3, "--format", "csv", "SELECT count(*) AS n FROM quotes", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1] == str(sum(isinstance(e, Quote) for e in events))
    assert "raw_trades" in run("lake", "ls", *s3, env=env).stdout
    daily = tmp_path / "aapl.csv"
    daily.write_text("\n".join((FIXTURES / "stocks" / "AAPL.csv").read_text().splitlines()[:40]))
    result = run("lake", "import", str(daily), "--provider", "B", "--instrument", "AAPL", *s3,
                 env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    result = run("lake", "expire", "--older-than", "1d", *s3, env=env)
    assert result.returncode == 0 and "deleted 8 chunks" in result.stderr  # 2 sources x 4
    os.environ["AWS_ENDPOINT_URL"] = s3_server
    try:
        assert Lake(LakeRoot.open(s3_bucket)).read_sql("SELECT * FROM bars_1d").num_rows > 10
    finally:
        del os.environ["AWS_ENDPOINT_URL"]
