"""`quoteflow ingest <provider>`: live feeds from local provider servers into the lake or Kafka."""

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pyarrow.parquet as pq

from quoteflow.app.ingest import run_ingest
from quoteflow.app.settings import Settings
from quoteflow.bus.kafka import KafkaBus
from quoteflow.feeds.alpaca.client import AlpacaStream
from quoteflow.feeds.config import ConnectionPolicy
from tests.feeds.servers import serving
from tests.feeds.servers.alpaca import AlpacaServer, Session
from tests.feeds.test_alpaca_client import RECORDED, minute_bar, settings

QUOTEFLOW = [str(Path(sys.executable).with_name("quoteflow"))]
SECRET = "secret-key"


def env_for(base: str, key: str = "key-id") -> dict[str, str]:
    return {**os.environ, "QUOTEFLOW_ALPACA__KEY_ID": key, "QUOTEFLOW_ALPACA__SECRET_KEY": SECRET,
            "QUOTEFLOW_ALPACA__STREAM_URL": base.replace("http://", "ws://"),
            "QUOTEFLOW_ALPACA__REST_URL": base}  # fmt: skip


async def quoteflow(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *QUOTEFLOW, *args, env=env, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, output.decode()


def raw_files(root: Path, source: str) -> dict[str, int]:
    """Rows per record type in the raw chunks of ``source``."""
    rows: dict[str, int] = {}
    for path in (root / f"raw/source={source}").rglob("*.parquet"):
        kind = next(p.split("=")[1] for p in path.parts if p.startswith("type="))
        rows[kind] = rows.get(kind, 0) + pq.read_metadata(path).num_rows
    return rows


async def test_ingest_alpaca_records_the_stream_into_the_lake_and_never_prints_the_secret(
    tmp_path,
):
    bad_quote = '[{"T":"q","S":"AMD","bp":"x","bs":1,"ap":87.68,"as":4,"t":"2021-02-22T15:51:46Z"}]'
    frames = [*RECORDED, bad_quote]
    server = AlpacaServer(sessions=[Session(frames=frames), Session(frames=frames)])
    async with serving(server.app()) as base:
        code, output = await quoteflow(
            "ingest", "alpaca", "--symbols", "AMD,AAPL,SPY", "--duration", "3",
            "--root", str(tmp_path / "lake"), "--source", "replica", "--stats-every", "0.5",
            env=env_for(base), cwd=tmp_path,
        )  # fmt: skip
    assert code == 0, output
    rows = raw_files(tmp_path / "lake", "replica")
    assert rows["quotes"] == 1 and rows["trades"] == 1 and rows["bars_1m"] == 2  # b and u
    (dead_chunk,) = (tmp_path / "lake/dead_letters/source=replica").rglob("*.parquet")
    (dead,) = pq.read_table(dead_chunk).to_pylist()
    assert dead["provider"] == "ALPACA" and dead["payload"] and "bp" in dead["payload"]
    assert "records" in output and "lag p50" in output
    assert SECRET not in output
    sent = json.loads(server.peers[0].received[1])
    assert sent == {"action": "subscribe", "quotes": ["AMD", "AAPL", "SPY"],
                    "trades": ["AMD", "AAPL", "SPY"], "bars": ["AMD", "AAPL", "SPY"]}  # fmt: skip


async def test_ingest_alpaca_with_a_wrong_key_exits_with_the_reason_and_no_retries(tmp_path):
    server = AlpacaServer()
    async with serving(server.app()) as base:
        code, output = await quoteflow(
            "ingest", "alpaca", "--symbols", "AAPL", "--root", str(tmp_path / "lake"),
            env=env_for(base, key="wrong"), cwd=tmp_path,
        )  # fmt: skip
    assert code == 2
    assert "authentication failed" in output and "402" in output
    assert SECRET not in output and len(server.peers) == 1


async def test_ingest_alpaca_bars_writes_daily_bars_for_previous_closes(tmp_path):
    server = AlpacaServer(bars={"AAPL": [minute_bar("AAPL", m) for m in range(3)]})
    async with serving(server.app()) as base:
        code, output = await quoteflow(
            "ingest", "alpaca-bars", "--symbols", "AAPL", "--start", "2021-02-22",
            "--timeframe", "1Day", "--output", "bars.parquet", env=env_for(base), cwd=tmp_path,
        )  # fmt: skip
    assert code == 0, output
    assert pq.read_table(tmp_path / "bars.parquet").column("period").to_pylist() == ["1d"] * 3
    assert server.rest_requests[0]["timeframe"] == "1Day"


async def test_run_ingest_publishes_onto_kafka_raw_topics(own_kafka_broker):
    kafka_broker = own_kafka_broker  # its raw topics must not reach other tests reading them
    server = AlpacaServer(sessions=[Session(frames=RECORDED)])
    fast = ConnectionPolicy(reconnect_initial_s=0.01, reconnect_max_s=0.05)
    async with serving(server.app()) as base:
        feed = AlpacaStream(settings(base), {"quotes": ["AMD"], "trades": ["AAPL"]}, policy=fast)
        metrics = await run_ingest(feed, Settings(), bus_url=f"kafka://{kafka_broker}",
                                   duration_s=2.0)  # fmt: skip
    assert metrics.records >= 2
    bus = KafkaBus(kafka_broker, fetch_wait_ms=50, session_timeout_ms=6_000)
    consumer = bus.subscribe("test-ingest-reader", ["quotes", "trades"])
    found = []
    async with asyncio.timeout(30):
        while {m.topic for m in found} != {"quotes", "trades"}:
            found.extend(await consumer.poll(100, timeout_s=1.0))
    await consumer.close()
    await bus.close()
    assert {(m.topic, m.key) for m in found} >= {("quotes", "AMD"), ("trades", "AAPL")}


async def test_ingest_stops_cleanly_on_sigterm_and_flushes_what_it_holds(tmp_path):
    server = AlpacaServer(sessions=[Session(frames=RECORDED)])
    async with serving(server.app()) as base:
        proc = await asyncio.create_subprocess_exec(
            *QUOTEFLOW, "ingest", "alpaca", "--symbols", "AMD,AAPL,SPY",
            "--root", str(tmp_path / "lake"), env=env_for(base), cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        async with asyncio.timeout(30):
            while server.sent_frames < len(RECORDED):
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # let it read them
        proc.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, output.decode()
    assert raw_files(tmp_path / "lake", "primary")["quotes"] == 1  # buffered, flushed at stop
