"""kill -9 the recorder at random moments; resuming from its checkpoint loses nothing."""

import random
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq

from quoteflow.events import Quote, Trade, from_batch
from quoteflow.formats.records import write_records
from quoteflow.lake import LakeRoot
from quoteflow.lake.coalesce import coalesce, raw_files
from quoteflow.lake.layout import refined_path
from tests.lake.conftest import market_events

QUOTEFLOW = str(Path(sys.executable).parent / "quoteflow")


def recorder(files, root):
    return [QUOTEFLOW, "lake", "record", "--feed", "replay", *map(str, files), "--root", str(root),
            "--chunk-rows", "150", "--checkpoint", "crash", "--resume"]  # fmt: skip


def test_kill_9_and_resume_records_every_input_exactly_once(tmp_path):
    events = market_events(5400, instruments=("A", "B", "C"), seed=11)
    files = [tmp_path / "quotes.parquet", tmp_path / "trades.parquet"]
    write_records(files[0], [e for e in events if isinstance(e, Quote)])
    write_records(files[1], [e for e in events if isinstance(e, Trade)])
    root = tmp_path / "lake"
    rng = random.Random(7)
    kills = 0
    for _ in range(6):
        written = len(list(root.rglob("*.parquet")))
        proc = subprocess.Popen(recorder(files, root), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)  # fmt: skip
        while proc.poll() is None and len(list(root.rglob("*.parquet"))) <= written:
            time.sleep(0.02)  # kill it while it records, however fast this machine is
        time.sleep(rng.uniform(0.0, 0.5))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    final = subprocess.run(recorder(files, root), capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    assert kills >= 2, "the recorder finished before it could be killed; make the feed longer"

    lake = LakeRoot.open(root)
    recorded = sum(pq.read_metadata(f.path).num_rows for f in lake.files("raw"))
    print(f"{kills} kills, {recorded} raw rows for {len(events)} events")
    coalesce(lake, date(2024, 4, 1))
    stored = []
    for partition in raw_files(lake):
        stored += from_batch(pq.read_table(lake.join(refined_path(partition))))
    key = lambda e: (type(e).__name__, e.instrument, e.ts_event)  # noqa: E731
    assert sorted(stored, key=key) == sorted(events, key=key)
