"""`quoteflow run <stage>`: ingest, enrich and lake as separate processes on a real broker."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from quoteflow.app.run import lake_topics
from quoteflow.bus import MemoryBus
from quoteflow.enrich import Enricher, PreviousCloses
from quoteflow.enrich.config import EnrichSettings
from quoteflow.events import News, Quote, Trade
from quoteflow.feeds.replay import ReplayFeed
from quoteflow.formats.records import write_records
from quoteflow.lake import LakeRoot, LakeSink, LakeWriter
from quoteflow.lake.query import Lake
from quoteflow.runtime import Pipeline, Stage
from tests.lake.conftest import market_events

QUOTEFLOW = str(Path(sys.executable).parent / "quoteflow")
ENV = {**os.environ, "QUOTEFLOW_BUS__SESSION_TIMEOUT_MS": "6000"}


def start(*args):
    return subprocess.Popen([QUOTEFLOW, "run", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV)  # fmt: skip


def rows(root: Path) -> dict[str, list[dict]]:
    """Every lake view's rows in a fixed order."""
    lake = Lake(LakeRoot.open(root))
    return {
        view: lake.read_sql(
            f"SELECT * FROM {view} ORDER BY instrument, ts_event, ts_recv"
        ).to_pylist()
        for view in lake.views
    }


def embedded_lake(root: Path, files: list[Path]) -> dict[str, list[dict]]:
    """The same replay through the embedded runtime: one process, memory bus."""
    job = Enricher(EnrichSettings(), PreviousCloses({}))
    stage = Stage("enrich", ("quotes", "trades"), job)
    sink = LakeSink(lake_topics("bars.1m"), LakeWriter(LakeRoot.open(root)))
    asyncio.run(Pipeline(MemoryBus(), [ReplayFeed(files, speed=None)], [stage], [sink]).run())
    return rows(root)


def test_ingest_enrich_and_lake_as_processes_record_what_the_embedded_runtime_records(
    tmp_path, kafka_broker
):
    events = market_events(600)
    files = [tmp_path / "quotes.parquet", tmp_path / "trades.parquet", tmp_path / "news.parquet"]
    write_records(files[0], [e for e in events if isinstance(e, Quote)])
    write_records(files[1], [e for e in events if isinstance(e, Trade)])
    news = [News("SYNTHETIC", "A", e.ts_event, e.ts_recv, f"n{k}", "Headline", e.ts_event, ("A",))
            for k, e in enumerate(events[::50])]  # fmt: skip
    write_records(files[2], news)
    expected = embedded_lake(tmp_path / "embedded", files)
    bus = f"kafka://{kafka_broker}"
    root = tmp_path / "lake"
    enrich = start("enrich", "--bus", bus)
    lake = start("lake", "--bus", bus, "--root", str(root), "--chunk-age", "0.5")
    try:
        ingest = subprocess.run(
            [QUOTEFLOW, "run", "ingest", "--bus", bus, "--fast", "--replay", str(files[0]),
             "--replay", str(files[1]), "--replay", str(files[2])],
            capture_output=True, text=True, timeout=120, env=ENV,
        )  # fmt: skip
        assert ingest.returncode == 0, ingest.stderr
        counts = {view: len(records) for view, records in expected.items()}
        deadline = time.monotonic() + 90
        got: dict[str, list[dict]] = {}
        while time.monotonic() < deadline:
            got = rows(root) if root.exists() else {}
            if all(len(got.get(view, ())) >= n for view, n in counts.items() if "bars" not in view):
                break
            time.sleep(1)
    finally:
        for proc in (enrich, lake):
            proc.send_signal(signal.SIGTERM)
        for proc in (enrich, lake):
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
    got = rows(root)
    for view in ("raw_quotes", "raw_trades", "raw_news", "raw_quotes_enriched",
                 "raw_trades_enriched"):  # fmt: skip
        assert len(got[view]) == counts[view] > 10, view
        assert got[view] == expected[view], view
    # a stage process keeps its open bars for the next owner; the embedded run ends
    # its input and closes them: the only difference is each instrument's last bar
    last_bars = {}
    for bar in expected["raw_bars_1m"]:
        last_bars[bar["instrument"]] = bar
    closed = [bar for bar in expected["raw_bars_1m"] if bar not in last_bars.values()]
    assert got["raw_bars_1m"] == closed
    # this replay's alerts all come from prices and from bars closed mid-stream
    assert got["raw_alerts"] == expected["raw_alerts"]
    assert len(expected["raw_alerts"]) > 10


def test_a_bus_that_is_not_kafka_and_an_unknown_stage_are_refused():
    bad_bus = subprocess.run([QUOTEFLOW, "run", "enrich", "--bus", "memory://"],
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert bad_bus.returncode == 2 and "kafka://host:port" in bad_bus.stderr
    bad_stage = subprocess.run([QUOTEFLOW, "run", "matching", "--bus", "kafka://127.0.0.1:1"],
                               capture_output=True, text=True, timeout=60)  # fmt: skip
    assert bad_stage.returncode == 2 and "unknown stage 'matching'" in bad_stage.stderr
