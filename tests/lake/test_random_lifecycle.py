"""Random lake lifecycles with kill -9s: every recorded record ends refined exactly once.

Each run records batches of trades with the two ingesters (some late, some
twice, a back-fill after expiry), coalesces and expires in a random order, and
kills the recording or coalescing process at a random moment now and then,
restarting it with --resume as an operator would. Whatever the order, after a
last ``coalesce --all-pending`` the refined file holds every trade that any
ingester recorded, once.
"""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from quoteflow.events import Trade
from quoteflow.formats.records import write_records
from quoteflow.lake import LakeRoot, Partition
from quoteflow.lake.layout import refined_path
from tests.lake.test_coalesce import DAY

QUOTEFLOW = str(Path(sys.executable).parent / "quoteflow")
OPEN_NS = 1_711_978_200_000_000_000  # 2024-04-01 13:30 UTC
BATCHES = 5
PER_BATCH = 3_000


def _batches(directory: Path) -> list[Path]:
    files = []
    for batch in range(BATCHES):
        first = batch * PER_BATCH
        trades = [Trade("ALPACA", "AAPL", OPEN_NS + i * 1_000_000, OPEN_NS + i * 1_000_000 + 3,
                        100.0 + i % 97, 1.0 + i % 5, trade_id=str(i), conditions=("@",))
                  for i in range(first, first + PER_BATCH)]  # fmt: skip
        path = directory / f"batch{batch}.parquet"
        write_records(path, trades)
        files.append(path)
    return files


def _run(args: list[str], rng: random.Random, resume: list[str] | None = None) -> None:
    """Run a command; maybe kill -9 it at a random moment, then run it again to the end."""
    if rng.random() < 0.5:
        proc = subprocess.Popen([QUOTEFLOW, *args], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)  # fmt: skip
        time.sleep(rng.uniform(0.8, 2.5))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    done = subprocess.run([QUOTEFLOW, *args, *(resume or [])], capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode in (0, 1), done.stderr  # 1: a chunk damaged by the kill was skipped


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_lifecycles_with_kills_keep_every_record_exactly_once(tmp_path, seed):
    rng = random.Random(seed)
    files = _batches(tmp_path)
    root = str(tmp_path / "lake")
    recordings = [(batch, source) for batch in range(BATCHES)
                  for source in ("primary", "replica") if rng.random() < 0.7]  # fmt: skip
    recordings += [(rng.randrange(BATCHES), "replica")]  # a back-fill, perhaps after expiry
    steps: list[tuple] = [("record", b, s) for b, s in recordings]
    steps += [("coalesce",)] * 3 + [("expire",)] * 2
    rng.shuffle(steps)
    recorded: set[int] = set()
    for step in steps:
        if step[0] == "record":
            _, batch, source = step
            name = f"batch{batch}-{source}"
            _run(["lake", "record", "--feed", "replay", str(files[batch]), "--root", root,
                  "--source", source, "--chunk-rows", "200", "--checkpoint", name], rng,
                 resume=["--resume"])  # fmt: skip
            recorded.update(range(batch * PER_BATCH, (batch + 1) * PER_BATCH))
        elif step[0] == "coalesce" and Path(root).exists():
            _run(["lake", "coalesce", "--all-pending", "--root", root], rng)
        elif step[0] == "expire" and Path(root).exists():
            _run(["lake", "expire", "--older-than", "1d", "--root", root], rng)
    _run(["lake", "coalesce", "--all-pending", "--root", root], random.Random(0))
    lake = LakeRoot.open(root)
    table = pq.read_table(lake.join(refined_path(Partition("ALPACA", "trades", "AAPL", DAY))))
    ids = [int(i) for i in table.column("trade_id").to_pylist()]
    assert len(ids) == len(set(ids)), "a record was refined twice"
    assert set(ids) == recorded, f"missing: {len(recorded - set(ids))}"
