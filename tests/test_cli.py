"""The `quoteflow` command, run as a real subprocess."""

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from quoteflow.gateway.client import GatewayClient
from tests.conftest import FIXTURES, load_vector

QUOTEFLOW = [str(Path(sys.executable).parent / "quoteflow")]
COMMANDS = [
    [],
    ["indicators"],
    ["enrich"],
    ["normalize"],
    ["demo"],
    ["config"],
    ["config", "show"],
    ["feed"],
    ["feed", "synthetic"],
    ["feed", "replay"],
    ["lake"],
    ["lake", "record"],
    ["lake", "coalesce"],
    ["lake", "schedule"],
    ["lake", "expire"],
    ["lake", "ls"],
    ["lake", "import"],
    ["sql"],
    ["run"],
    ["ingest"],
    ["ingest", "alpaca"],
    ["ingest", "alpaca-bars"],
    ["ingest", "deribit"],
    ["ingest", "ig"],
    ["keys"],
    ["keys", "create"],
    ["keys", "list"],
    ["keys", "revoke"],
]


def run(args, stdin="", env=None, **kwargs):
    return subprocess.run(
        QUOTEFLOW + args,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        **kwargs,
    )


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help(command):
    result = run([*command, "--help"])
    assert result.returncode == 0
    assert "Usage:" in result.stdout


def vector_line(name: str) -> str:
    vector = load_vector(name)
    return json.dumps({**vector["raw"], "receivedAtMs": vector["receivedAtMs"]})


def test_normalize_ig_line_writes_the_reference_record_and_exits_zero():
    result = run(
        ["normalize", "--provider", "ig", "--instrument", "CS.D.BITCOIN.CFE.IP"],
        vector_line("ig_quote") + "\n",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == load_vector("ig_quote")["normalized"]
    assert result.stdout.strip() == json.dumps(
        load_vector("ig_quote")["normalized"], separators=(",", ":")
    )


def test_normalize_with_bad_lines_reports_each_and_exits_one():
    lines = [
        vector_line("deribit_option_ticker"),
        "not json",
        json.dumps({"instrument_name": "X", "timestamp": 1, "best_bid_amount": -2}),
        "",
        vector_line("deribit_future_ticker"),
    ]
    result = run(["normalize", "--provider", "deribit"], "\n".join(lines) + "\n")
    assert result.returncode == 1
    assert len(result.stdout.splitlines()) == 2
    errors = result.stderr.splitlines()
    assert errors[0].startswith("line 2: $: not valid JSON")
    assert errors[1].startswith("line 3: best_bid_amount:")
    assert len(errors) == 2


def test_normalize_an_alpaca_frame_with_a_bad_message_keeps_the_good_ones_and_names_the_bad():
    good = {"T": "q", "S": "AMD", "bp": 87.66, "bs": 1, "ap": 87.68, "as": 4,
            "t": "2021-02-22T15:51:45.335689322Z"}  # fmt: skip
    frame = [good, {**good, "bs": -1}, {**good, "S": "AAPL"}]
    stamped = [{**good, "receivedAtMs": 1614009106000}]
    lines = [json.dumps(frame), json.dumps([good, good]), json.dumps(stamped)]
    result = run(["normalize", "--provider", "alpaca"], "\n".join(lines) + "\n")
    assert result.returncode == 1
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 5  # two of the first frame, two of the second, the stamped one
    assert records[-1]["clientTimestamp"] == 1614009106000
    assert [line.split(":")[0] for line in result.stderr.splitlines()] == ["line 1"]
    assert "bs" in result.stderr


def test_normalize_alpaca_frames_with_keys_names_instrument_and_type():
    frames = (FIXTURES / "alpaca" / "stream.jsonl").read_text()
    result = run(["normalize", "--provider", "alpaca", "--keys"], frames)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["type"], r["instrument"]) for r in records[:3]] == [
        ("quotes", "AMD"),
        ("trades", "AAPL"),
        ("bars", "SPY"),
    ]
    assert records[0]["serverTimestamp"] == 1614009105335


def test_normalize_ig_without_instrument_is_a_usage_error_naming_the_option():
    result = run(["normalize", "--provider", "ig"], '{"BID": "1", "UTM": "1"}\n')
    assert result.returncode == 2
    assert "--instrument" in result.stderr
    assert "epic" in result.stderr


def test_config_show_masks_secrets(tmp_path):
    env = {**os.environ, "QUOTEFLOW_ALPACA__SECRET_KEY": "hunter2-secret"}
    result = run(["config", "show", "--format", "json"], env=env, cwd=tmp_path)
    assert result.returncode == 0
    assert "hunter2-secret" not in result.stdout + result.stderr
    assert json.loads(result.stdout)["alpaca"]["secret_key"] == "**********"
    toml = run(["config", "show"], env=env, cwd=tmp_path)
    assert "hunter2-secret" not in toml.stdout
    assert "# secret_key = (a secret: set, not shown)" in toml.stdout


def test_config_show_prints_toml_that_reads_back_as_the_same_settings(tmp_path):
    path = tmp_path / "quoteflow.toml"
    path.write_text('[bus]\npartitions = 8\n[enrich]\nthresholds_pct = { "AAPL" = 2.5 }\n')
    shown = run(["--config", str(path), "config", "show"])
    assert shown.returncode == 0
    assert "[enrich.alerts]" in shown.stdout
    (tmp_path / "again.toml").write_text(shown.stdout)
    again = run(["--config", str(tmp_path / "again.toml"), "config", "show", "--format", "json"])
    first = run(["--config", str(path), "config", "show", "--format", "json"])
    assert again.returncode == 0
    assert json.loads(again.stdout) == json.loads(first.stdout)
    assert json.loads(again.stdout)["enrich"]["thresholds_pct"] == {"AAPL": 2.5}


def test_config_init_writes_a_commented_sample_only_its_owner_reads(tmp_path):
    result = run(["config", "init"], cwd=tmp_path)
    assert result.returncode == 0
    sample = tmp_path / "quoteflow.toml"
    assert sample.stat().st_mode & 0o077 == 0
    assert "# partitions = 4" in sample.read_text()
    assert run(["config", "show"], cwd=tmp_path).returncode == 0
    refused = run(["config", "init"], cwd=tmp_path)
    assert refused.returncode == 2
    assert "--force" in refused.stderr


def test_bad_config_file_is_a_clear_error(tmp_path):
    path = tmp_path / "q.toml"
    path.write_text("[bus]\npartitions = -1\n")
    result = run(["--config", str(path), "config", "show"])
    assert result.returncode == 2
    assert "bus.partitions" in result.stderr and "Traceback" not in result.stderr


def test_feed_synthetic_then_replay_round_trip(tmp_path):
    made = run(
        [
            "feed",
            "synthetic",
            "--out-dir",
            str(tmp_path),
            "--duration",
            "120",
            "--instruments",
            "2",
            "--start",
            "2024-03-28",
            "--format",
            "csv",
        ]
    )
    assert made.returncode == 0, made.stderr
    assert "synthetic quotes" in made.stderr
    files = [str(tmp_path / "quotes.csv"), str(tmp_path / "trades.csv")]
    replay = run(["feed", "replay", *files, "--fast"])
    assert replay.returncode == 0, replay.stderr
    records = [json.loads(line) for line in replay.stdout.splitlines()]
    assert {r["provider"] for r in records} == {"SYNTHETIC"}
    stamps = [r["serverTimestamp"] for r in records]
    assert stamps == sorted(stamps) and len(records) > 100


def test_feed_replay_missing_file_is_a_clear_error(tmp_path):
    result = run(["feed", "replay", str(tmp_path / "nope.parquet")])
    assert result.returncode == 2
    assert "no such file" in result.stderr


def test_demo_with_duration_exits_by_itself_and_shows_enriched_records():
    result = run(["demo", "--duration", "2", "--instruments", "3", "--speed", "60"])
    assert result.returncode == 0, result.stderr
    assert "SYN02" in result.stdout and "stopped cleanly" in result.stdout
    assert "Neutral" in result.stdout or "Bullish" in result.stdout or "Bearish" in result.stdout
    assert "recent alerts (market time, UTC)" in result.stdout
    assert "executions" in result.stdout and "CRUX" in result.stdout
    assert "rsi14" in result.stdout


def test_normalize_when_input_is_not_utf8_rejects_the_line_and_goes_on():
    result = subprocess.run(
        [*QUOTEFLOW, "normalize", "--provider", "alpaca"],
        input=b'\xff\xfe\n[{"T":"q"}]\n',
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 1
    errors = result.stderr.decode().splitlines()
    assert errors[0].startswith("line 1: $: not valid JSON")
    assert errors[1] == "line 2: S: missing required field"


def test_indicators_writes_input_columns_plus_talib_values(tmp_path):
    import csv

    import numpy as np
    import talib

    source = FIXTURES / "stocks" / "MSFT.csv"
    result = run(["indicators", "--input", str(source), "--spec", "sma:20,macd,bbands:20:2,atr"])
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(result.stdout.splitlines()))
    assert list(rows[0])[:6] == ["date", "open", "high", "low", "close", "volume"]
    assert list(rows[0])[6:] == [
        "sma_20", "macd_12_26_9", "macd_12_26_9_signal", "macd_12_26_9_histogram",
        "bbands_20_2_upper", "bbands_20_2_middle", "bbands_20_2_lower", "atr_14",
    ]  # fmt: skip
    assert rows[18]["sma_20"] == "" and rows[19]["sma_20"] != ""
    close = np.array([float(r["close"]) for r in rows])
    ours = np.array([float(r["macd_12_26_9_signal"] or "nan") for r in rows])
    np.testing.assert_allclose(ours, talib.MACD(close)[1], rtol=1e-9, equal_nan=True)


@pytest.mark.parametrize(
    ("spec", "message"),
    [("foo:3", "unknown indicator 'foo'"), ("sma:x", "must be numbers"),
     ("sma:0", "period must be >= 1"), ("macd:1:2:3:4", "at most 3")],
)  # fmt: skip
def test_indicators_with_bad_spec_is_a_clear_error(spec, message):
    result = run(["indicators", "--input", str(FIXTURES / "stocks" / "MSFT.csv"), "--spec", spec])
    assert result.returncode == 2
    assert message in result.stderr


def test_indicators_when_a_column_is_missing_names_it(tmp_path):
    path = tmp_path / "closes.csv"
    path.write_text("date,close\n2024-01-02,1.0\n2024-01-03,2.0\n")
    result = run(["indicators", "--input", str(path), "--spec", "atr:14"])
    assert result.returncode == 2
    assert "atr needs the column(s) high, low" in result.stderr


def test_enrich_on_the_synthetic_feed_prints_moves_indicators_and_bars(tmp_path):
    env = {
        **os.environ,
        "QUOTEFLOW_ENRICH__INDICATORS": "sma:2",
        "QUOTEFLOW_SYNTHETIC__INSTRUMENTS": "2",
    }
    result = run(["enrich", "--fast", "--duration", "300"], env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    trades = [r for r in records if r["type"] == "trades.enriched"]
    assert trades and {r["move"] for r in trades} <= {"Bullish", "Bearish", "Neutral"}
    assert all(r["previousClose"] > 0 for r in trades)
    bars = [r for r in records if r["type"] == "bars"]
    assert len(bars) >= 2 * 4  # two instruments, five minutes (the last one flushed at the end)
    assert any("sma_2" in r["indicators"] for r in records if r["type"].endswith("enriched"))


def test_enrich_replays_files_against_previous_closes_from_a_csv(tmp_path):
    from quoteflow.events import Trade
    from quoteflow.formats.records import write_records

    monday = 1711980000 * 10**9  # 2024-04-01 14:00 UTC
    write_records(tmp_path / "t.parquet", [Trade("T", "A", monday, monday, 110.0, 1.0)])
    closes = tmp_path / "daily.csv"
    closes.write_text("ticker,date,close\nA,2024-03-28,100\n")
    result = run(["enrich", "--replay", str(tmp_path / "t.parquet"), "--previous-closes",
                  str(closes), "--fast", "--topics", "trades.enriched"])  # fmt: skip
    assert result.returncode == 0, result.stderr
    (record,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert (record["move"], record["previousClose"], record["changePct"]) == (
        "Bullish", 100.0, pytest.approx(10.0))  # fmt: skip


@pytest.mark.parametrize("file_format", ["parquet", "arrow"])
def test_enrich_writes_a_file_per_topic_holding_what_jsonl_prints(tmp_path, file_format):
    import pyarrow as pa
    import pyarrow.parquet as pq

    golden = FIXTURES / "enrich_golden"
    replays = [
        "--replay",
        str(golden / "quotes.parquet"),
        "--replay",
        str(golden / "trades.parquet"),
    ]
    common = ["enrich", *replays, "--previous-closes", str(golden / "closes.csv"), "--fast",
              "--topics", "quotes.enriched,trades.enriched,bars,alerts"]  # fmt: skip
    printed = run([*common, "--output", str(tmp_path / "out.jsonl")], cwd=tmp_path)
    assert printed.returncode == 0, printed.stderr
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    written = run([*common, "--format", file_format, "--output", str(tmp_path / "out")])
    assert written.returncode == 0, written.stderr
    rows = {}
    for path in sorted((tmp_path / "out").iterdir()):
        if file_format == "parquet":
            table = pq.read_table(path)
        else:
            with pa.ipc.open_file(path) as reader:
                table = reader.read_all()
        rows[path.name] = table.num_rows
    counted = {}
    for line in lines:
        kind = json.loads(line)["type"]
        counted[kind] = counted.get(kind, 0) + 1
    assert rows == {
        f"alerts.{file_format}": counted["alerts"],
        f"bars.1m.{file_format}": counted["bars"],
        f"quotes.enriched.{file_format}": counted["quotes.enriched"],
        f"trades.enriched.{file_format}": counted["trades.enriched"],
    }


def test_enrich_to_files_needs_a_directory(tmp_path):
    result = run(["enrich", "--fast", "--format", "parquet"])
    assert result.returncode == 2 and "name a directory" in result.stderr
    (tmp_path / "f").write_text("")
    result = run(["enrich", "--fast", "--format", "arrow", "--output", str(tmp_path / "f")])
    assert result.returncode == 2 and "need a directory" in result.stderr


def test_demo_serves_its_feed_to_the_printed_demo_key_and_stops_cleanly_on_ctrl_c():
    proc = subprocess.Popen(
        [*QUOTEFLOW, "demo", "--speed", "20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "400"},
    )
    try:
        lines = [proc.stdout.readline() for _ in range(3)]
        assert "SYNTHETIC" in lines[0]
        url = re.search(r"gateway (\S+)", lines[1]).group(1)
        key = re.search(r"export QUOTEFLOW_API_KEY=(\S+)", lines[2]).group(1)

        async def first_records():
            client = GatewayClient(url, key, {"quotes.enriched": ["SYN00"]})
            records = []
            async for record in client:
                records.append(record)
                if len(records) == 3:
                    return records

        try:
            records = asyncio.run(asyncio.wait_for(first_records(), 60))
        except TimeoutError:
            records = []
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert records, f"no records within 60 s; the demo printed:\n{out}\n{err}"
    assert {r["instrument"] for r in records} == {"SYN00"}
    assert all(r["type"] == "quotes.enriched" and "bidPrice" in r for r in records)
    assert proc.returncode == 0, err
    assert "stopped cleanly" in out and "0 dead letters" in out


def test_demo_listens_on_free_ports_when_the_configured_ones_are_taken():
    with socket.socket() as gateway, socket.socket() as exchange:
        for taken in (gateway, exchange):
            taken.bind(("127.0.0.1", 0))
            taken.listen()
        env = {**os.environ, "QUOTEFLOW_GATEWAY__PORT": str(gateway.getsockname()[1]),
               "QUOTEFLOW_EXCHANGE__PORT": str(exchange.getsockname()[1])}  # fmt: skip
        result = run(["demo", "--duration", "1", "--instruments", "2"], env=env)
    assert result.returncode == 0, result.stderr
    assert "stopped cleanly" in result.stdout
    for taken in env["QUOTEFLOW_GATEWAY__PORT"], env["QUOTEFLOW_EXCHANGE__PORT"]:
        assert f"localhost:{taken}/" not in result.stdout


def test_enrich_works_on_history_before_2006(tmp_path):
    from quoteflow.events import Trade
    from quoteflow.formats.records import write_records

    # Synthetic prices on real sessions: 1999-12-31 was a NYSE session, 2000-01-03 the next.
    (tmp_path / "closes.csv").write_text("symbol,date,close\nOLD,1999-12-31,40.0\n")
    opening = 946_909_800_000_000_000  # 2000-01-03 14:30 UTC
    trades = [Trade("SYNTHETIC", "OLD", opening + i, opening + i, 42.0 + i, 10.0) for i in range(3)]
    write_records(tmp_path / "trades.parquet", trades)
    closes, trades_file = str(tmp_path / "closes.csv"), str(tmp_path / "trades.parquet")
    result = run(["enrich", "--replay", trades_file, "--previous-closes", closes,
                  "--fast", "--topics", "trades.enriched"])  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["move"] for r in records] == ["Bullish"] * 3
    assert records[0]["previousClose"] == 40.0
