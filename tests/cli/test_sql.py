"""``quoteflow sql`` works like a SQL tool: every type prints, long results are cut."""

import csv
import io
import json
import os
import pty
import subprocess

import pyarrow.parquet as pq
import pytest

from quoteflow.events import Quote, Trade
from quoteflow.lake import LakeRoot, LakeWriter
from tests.test_cli import QUOTEFLOW, run

DAY_NS = 1_711_980_000_000_000_000  # 2024-04-01 14:00 UTC


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("sql") / "lake"
    writer = LakeWriter(LakeRoot.open(root), chunk_rows=10_000)
    trades = [Trade("ALPACA", "AAPL", DAY_NS + i, DAY_NS + i, 100.0 + i, 5.0, trade_id=str(i),
                    conditions=("@", "I")) for i in range(50)]  # fmt: skip
    quotes = [Quote("ALPACA", "AAPL", DAY_NS + i, DAY_NS + i, bid_price=99.0, ask_price=101.0)
              for i in range(100)]  # fmt: skip
    writer.add([*trades, *quotes])
    writer.flush()
    writer.close()
    return str(root)


def sql(*args, stdin=""):
    return run(["sql", *args], stdin)


def test_list_columns_print_as_json_in_table_and_csv(lake):
    table = sql("--root", lake, "SELECT * FROM raw_trades LIMIT 2")
    assert table.returncode == 0, table.stderr
    assert '["@", "I"]' in table.stdout
    out = sql("--root", lake, "--format", "csv", "SELECT trade_id, conditions FROM raw_trades")
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert len(rows) == 50 and json.loads(rows[0]["conditions"]) == ["@", "I"]
    lines = sql("--root", lake, "--format", "json", "SELECT conditions FROM raw_trades LIMIT 1")
    assert json.loads(lines.stdout) == {"conditions": ["@", "I"]}


def test_a_table_shows_forty_rows_and_says_how_many_there_are(lake):
    result = sql("--root", lake, "SELECT ts_event, bid_price FROM raw_quotes")
    assert result.returncode == 0
    assert result.stdout.count("99.0") == 40
    assert "100 rows, showing the first 40" in result.stderr
    every = sql("--root", lake, "--max-rows", "0", "SELECT bid_price FROM raw_quotes")
    assert every.stdout.count("99.0") == 100


def test_numbers_stay_whole_and_right_aligned_when_piped(lake):
    result = sql("--root", lake, "SELECT 1234567890123 AS big, 'x' AS label")
    line = next(row for row in result.stdout.splitlines() if "1,234,567,890,123" in row)
    assert "…" not in result.stdout
    assert line.index("1,234,567,890,123") > line.index("│")


@pytest.mark.parametrize("statement", ["", "   ", "-- only a comment", ";"])
def test_empty_or_comment_only_statements_are_refused_clearly(lake, statement):
    result = sql("--root", lake, "--", statement)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "empty" in result.stderr or "an SQL statement" in result.stderr


def test_an_unknown_view_lists_the_lakes_views(lake):
    result = sql("--root", lake, "SELECT * FROM quotez")
    assert result.returncode == 2
    assert "raw_quotes" in result.stderr and "pg_tables" not in result.stderr


def test_a_root_with_no_lake_is_an_error_that_says_so(tmp_path):
    result = sql("--root", str(tmp_path / "typo"), "SELECT 1")
    assert result.returncode == 2
    assert "no lake at" in result.stderr and "typo" in result.stderr
    listing = run(["lake", "ls", "--root", str(tmp_path / "typo")])
    assert listing.returncode == 2 and "no lake at" in listing.stderr


def test_parquet_to_a_terminal_is_refused_and_to_a_file_written(lake, tmp_path):
    leader, follower = pty.openpty()
    try:
        result = subprocess.run([*QUOTEFLOW, "sql", "--root", lake, "--format", "parquet",
                                 "SELECT * FROM raw_trades"], stdout=follower,
                                stderr=subprocess.PIPE, text=True, timeout=120)  # fmt: skip
    finally:
        os.close(leader)
        os.close(follower)
    assert result.returncode == 2 and "--output" in result.stderr
    out = tmp_path / "t.parquet"
    written = sql("--root", lake, "--format", "parquet", "--output", str(out),
                  "SELECT * FROM raw_trades")  # fmt: skip
    assert written.returncode == 0 and pq.read_table(out).num_rows == 50


def test_the_shell_runs_statements_and_dot_commands_from_stdin(lake):
    script = "\n".join([
        ".tables",
        ".schema raw_trades",
        ".timer on",
        "SELECT count(*) AS n",
        "  FROM raw_quotes;",
        "-- a comment alone;",
        "SELECT * FROM nowhere;",
        ".mode csv",
        "SELECT 7 AS seven;",
    ])  # fmt: skip
    result = sql("--root", lake, stdin=script + "\n")
    assert "raw_quotes" in result.stdout and "raw_trades" in result.stdout
    assert "conditions" in result.stdout  # from .schema
    assert "100" in result.stdout
    assert "time:" in result.stderr
    assert "nowhere" in result.stderr
    assert "seven\n7\n" in result.stdout
    assert result.returncode == 1  # one statement failed


def test_a_reader_that_goes_away_ends_the_output_quietly(lake):
    query = "'SELECT * FROM raw_quotes, range(200)'"
    command = f"{QUOTEFLOW[0]} sql --root {lake} --format csv {query} | head -2"
    result = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert len(result.stdout.splitlines()) == 2
    assert "Broken pipe" not in result.stderr and "Traceback" not in result.stderr
    assert result.returncode == 0
