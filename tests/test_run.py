"""`quoteflow run <stage>`: ingest, enrich and lake as separate processes on a real broker."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from quoteflow.events import Quote, Trade
from quoteflow.lake import LakeRoot
from quoteflow.lake.query import Lake
from quoteflow.recordio import write_records
from tests.lake.conftest import market_events

QUOTEFLOW = str(Path(sys.executable).parent / "quoteflow")
ENV = {**os.environ, "QUOTEFLOW_BUS__SESSION_TIMEOUT_MS": "6000"}


def start(*args):
    return subprocess.Popen([QUOTEFLOW, "run", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV)  # fmt: skip


def counts(root: Path) -> dict[str, int]:
    lake = Lake(LakeRoot.open(root))
    return {
        view: lake.sql(f"SELECT count(*) AS n FROM {view}").column("n")[0].as_py()
        for view in lake.views
    }


def test_ingest_enrich_and_lake_as_separate_processes(tmp_path, kafka_broker):
    events = market_events(600)
    files = [tmp_path / "quotes.parquet", tmp_path / "trades.parquet"]
    write_records(files[0], [e for e in events if isinstance(e, Quote)])
    write_records(files[1], [e for e in events if isinstance(e, Trade)])
    bus = f"kafka://{kafka_broker}"
    root = tmp_path / "lake"
    enrich = start("enrich", "--bus", bus)
    lake = start("lake", "--bus", bus, "--root", str(root), "--chunk-age", "0.5")
    try:
        ingest = subprocess.run(
            [QUOTEFLOW, "run", "ingest", "--bus", bus, "--fast", "--replay", str(files[0]),
             "--replay", str(files[1])],
            capture_output=True, text=True, timeout=120, env=ENV,
        )  # fmt: skip
        assert ingest.returncode == 0, ingest.stderr
        expected = {
            "raw_quotes": sum(isinstance(e, Quote) for e in events),
            "raw_trades": sum(isinstance(e, Trade) for e in events),
            "raw_quotes_enriched": sum(isinstance(e, Quote) for e in events),
            "raw_trades_enriched": sum(isinstance(e, Trade) for e in events),
        }
        deadline = time.monotonic() + 90
        seen = {}
        while time.monotonic() < deadline:
            seen = counts(root) if root.exists() else {}
            if all(seen.get(view) == n for view, n in expected.items()):
                break
            time.sleep(1)
        assert {view: seen.get(view) for view in expected} == expected, seen
    finally:
        for proc in (enrich, lake):
            proc.send_signal(signal.SIGTERM)
        for proc in (enrich, lake):
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err


def test_a_bus_that_is_not_kafka_and_an_unknown_stage_are_refused():
    bad_bus = subprocess.run([QUOTEFLOW, "run", "enrich", "--bus", "memory://"],
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert bad_bus.returncode == 2 and "kafka://host:port" in bad_bus.stderr
    bad_stage = subprocess.run([QUOTEFLOW, "run", "gateway", "--bus", "kafka://127.0.0.1:1"],
                               capture_output=True, text=True, timeout=60)  # fmt: skip
    assert bad_stage.returncode == 2 and "unknown stage 'gateway'" in bad_stage.stderr
