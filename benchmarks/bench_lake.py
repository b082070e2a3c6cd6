"""The lake: write throughput, bytes per row, one instrument-day query, coalescing.

Data: synthetic quotes (random-walk mids in cents, ns event times with random
gaps, receive times 0.1-5 ms later), generated with NumPy straight into Arrow.
"""

from __future__ import annotations

import io
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.bench_normalize import Result, best_rates
from quoteflow.events import Quote, arrow_schema, from_batch
from quoteflow.formats.reference import to_reference
from quoteflow.lake import LakeRoot, LakeWriter, Partition
from quoteflow.lake.coalesce import coalesce, coalesce_partition, raw_files
from quoteflow.lake.layout import refined_path
from quoteflow.lake.query import Lake
from quoteflow.lake.writer import chunk_bytes

_DAY_NS = 86_400_000_000_000
_CORES = (
    os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))
)
_OPEN_NS = 13 * 3_600_000_000_000 + 30 * 60_000_000_000
_SESSION_NS = 6 * 3_600_000_000_000
_DELAY_NS = (100_000, 5_000_000)  # receive time after event time, uniform
_SIZE_LOTS = 19  # sizes are 1-19 lots of 100, uniform


@dataclass
class LakeFigures:
    """What the lake benchmark measured, beyond the rate comparisons."""

    lake_bytes_per_row: float
    reference_csv_bytes_per_row: float
    information_bytes_per_row: float
    pandas_csv_bytes_per_row: float
    open_s: float
    query_s: float
    files: int
    coalesce: dict[str, float]


def quote_table(rows: int, instruments: int, day: date, seed: int = 0) -> pa.Table:
    """Return synthetic quotes of one session, instruments interleaved, in event-time order."""
    rng = np.random.default_rng(seed)
    day_ns = int(pd.Timestamp(day, tz="UTC").value)
    ts = day_ns + _OPEN_NS + np.sort(rng.integers(0, _SESSION_NS, rows))
    recv = ts + rng.integers(*_DELAY_NS, rows)
    which = rng.integers(0, instruments, rows)
    steps = rng.choice([-0.01, 0.0, 0.0, 0.01], rows)
    mid = np.zeros(rows)
    for k in range(instruments):
        mask = which == k
        mid[mask] = 50.0 + k + np.cumsum(steps[mask])
    names = np.array([f"SYN{k:02d}" for k in range(instruments)], dtype=object)[which]
    columns = {
        "provider": pa.array(["SYNTHETIC"] * rows),
        "instrument": pa.array(names.tolist()),
        "ts_event": pa.array(ts, pa.timestamp("ns", "UTC")),
        "ts_recv": pa.array(recv, pa.timestamp("ns", "UTC")),
        "bid_price": np.round(mid - 0.01, 2),
        "bid_size": rng.integers(1, _SIZE_LOTS + 1, rows) * 100.0,
        "ask_price": np.round(mid + 0.01, 2),
        "ask_size": rng.integers(1, _SIZE_LOTS + 1, rows) * 100.0,
    }
    schema = arrow_schema(Quote)
    return pa.table([columns.get(f.name, pa.nulls(rows, f.type)) for f in schema], schema=schema)


def information_bytes_per_row(rows: int, instruments: int) -> float:
    """Return the information :func:`quote_table` draws per row, in bytes.

    No lossless encoding of its rows can be smaller on average. Bits per row: the
    sorted event times (``rows`` uniform draws over the session: about
    log2(e * session / rows) each), the receive delay, the instrument, the mid's
    step (-1, 0, 0 or +1 cent: 1.5 bits) and the two sizes, all drawn uniformly
    and independently. The bid and ask follow from the mid.
    """
    bits = (
        math.log2(math.e * _SESSION_NS / rows)
        + math.log2(_DELAY_NS[1] - _DELAY_NS[0])
        + math.log2(instruments)
        + 1.5
        + 2 * math.log2(_SIZE_LOTS)
    )
    return bits / 8


def _csv_gz_bytes(frame: pd.DataFrame) -> int:
    out = io.BytesIO()
    frame.to_csv(out, compression={"method": "gzip", "mtime": 0}, index=False)
    return len(out.getvalue())


@contextmanager
def _all_cores() -> Iterator[int]:
    """Let this thread (and threads it starts) and Arrow use every core; yield how many."""
    pinned = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    arrow_cpus = pa.cpu_count()
    if pinned is not None:
        _set_affinity(_CORES)
    pa.set_cpu_count(len(_CORES))
    try:
        yield len(_CORES)
    finally:
        pa.set_cpu_count(arrow_cpus)
        if pinned is not None:
            _set_affinity(pinned)


def _set_affinity(cores: set[int]) -> None:
    """Set the cores of every thread of this process (Arrow's pools included)."""
    for thread in os.listdir("/proc/self/task"):
        with suppress(ProcessLookupError):  # a thread that ended since the listing
            os.sched_setaffinity(int(thread), cores)


def bench_write(rounds: int, rows: int, instruments: int) -> tuple[list[Result], dict[str, float]]:
    """Lake writer vs bare pyarrow and pandas ``to_csv(gzip)``; return rates and bytes/row.

    The writer encodes and writes the chunks due together on its threads, so the
    comparison runs on every core (the baselines too), and again on one core.
    """
    table = quote_table(rows, instruments, date(2024, 4, 1))
    batches = table.to_batches(max_chunksize=10_000)
    sample = table.slice(0, min(rows, 50_000))
    frame = sample.to_pandas()
    with tempfile.TemporaryDirectory() as tmp:
        sizes = {}

        def lake_writer() -> int:
            root = LakeRoot.open(Path(tmp) / f"lake{time.perf_counter_ns()}")
            writer = LakeWriter(root, chunk_rows=100_000)
            for batch in batches:
                writer.add_batch(batch)
            writer.flush()
            sizes["lake"] = sum(info.size for info in root.files("raw"))
            return rows

        def bare_pyarrow() -> int:
            pq.write_table(table, Path(tmp) / "bare.parquet", compression="zstd")
            return rows

        def pandas_csv() -> int:
            frame.to_csv(Path(tmp) / "quotes.csv.gz", compression="gzip", index=False)
            return len(frame)

        with _all_cores() as cores:
            ours, bare, csv = best_rates(rounds, lake_writer, bare_pyarrow, pandas_csv)
        ours_one_core, bare_one_core = best_rates(rounds, lake_writer, bare_pyarrow)
    reference = pd.DataFrame([to_reference(q) for q in from_batch(sample)])
    bytes_per_row = {
        "lake": sizes["lake"] / rows,
        "reference_csv": _csv_gz_bytes(reference) / len(reference),
        "pandas_csv": _csv_gz_bytes(frame) / len(frame),
    }
    name = f"lake writer, {rows:,} quotes of {instruments} instruments in Arrow batches"
    return [
        Result(f"{name}, {cores} cores, vs pandas to_csv(gzip)", rows, ours, csv),
        Result(f"{name}, {cores} cores, vs bare pyarrow write_table", rows, ours, bare),
        Result(
            f"{name}, one core, vs bare pyarrow write_table", rows, ours_one_core, bare_one_core
        ),
    ], bytes_per_row


def bench_query(days: int, instruments: int, rows_per_file: int) -> tuple[float, float, int]:
    """Return (seconds to open the lake, best seconds of one instrument-day query, files)."""
    schema = arrow_schema(Quote)
    with tempfile.TemporaryDirectory() as tmp:
        root = LakeRoot.open(tmp)
        first = date(2024, 1, 1)
        for offset in range(days):
            day = first + timedelta(days=offset)
            table = quote_table(rows_per_file * instruments, instruments, day, seed=offset)
            names = table.column("instrument").to_numpy(zero_copy_only=False)
            for k in range(instruments):
                name = f"SYN{k:02d}"
                part = table.filter(pa.array(names == name)).cast(schema)
                path = Path(root.join(refined_path(Partition("SYNTHETIC", "quotes", name, day))))
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(chunk_bytes(part))
        started = time.perf_counter()
        lake = Lake(root)
        opened = time.perf_counter() - started
        target = first + timedelta(days=days // 2)
        query = (
            "SELECT count(*) AS n, avg(ask_price - bid_price) AS spread FROM quotes "
            f"WHERE instrument = 'SYN07' AND year = {target.year} AND month = {target.month} "
            f"AND day = {target.day}"
        )
        best = float("inf")
        for _ in range(5):
            started = time.perf_counter()
            result = lake.read_sql(query)
            best = min(best, time.perf_counter() - started)
        assert result.column("n")[0].as_py() > 0
        return opened, best, days * instruments


def _record_with_gaps(root: LakeRoot, table: pa.Table) -> int:
    """Record ``table`` as primary and replica, each missing different 5%; return rows written."""
    rows, written = table.num_rows, 0
    for source, seed in (("primary", 1), ("replica", 2)):
        keep = np.ones(rows, dtype=bool)
        for start in np.random.default_rng(seed).integers(0, rows, rows // 2000):
            keep[start : start + 100] = False
        part = table.filter(pa.array(keep))
        if source == "replica":
            later = part.column("ts_recv").cast(pa.int64()).to_numpy() + 1_000
            part = part.set_column(3, "ts_recv", pa.array(later, pa.timestamp("ns", "UTC")))
        writer = LakeWriter(root, source, chunk_rows=100_000)
        for batch in part.to_batches(max_chunksize=50_000):
            writer.add_batch(batch)
        writer.flush()
        writer.close()
        written += part.num_rows
    return written


def _best_coalesce(rounds: int, root: LakeRoot, run: Callable[[], int]) -> tuple[float, int]:
    """Return (best seconds, refined rows) of ``rounds`` runs of ``run``, each a first coalesce.

    The refined files go before each run: a day refined already, with nothing new
    to add, is found up to date and not merged again.
    """
    best, total = float("inf"), 0
    for _ in range(rounds):
        shutil.rmtree(root.join("refined"), ignore_errors=True)
        started = time.perf_counter()
        total = run()
        best = min(best, time.perf_counter() - started)
    return best, total


def bench_coalesce(rounds: int, rows: int, instruments: int, day_rows: int) -> dict[str, float]:
    """Coalesce one instrument-day of ``rows`` on one core, then on every core a day of
    ``instruments`` instruments with ``day_rows`` rows each.

    Return refined and input rows/s of both, and the cores of the second.
    """
    day = date(2024, 4, 1)
    with tempfile.TemporaryDirectory() as one_dir, tempfile.TemporaryDirectory() as day_dir:
        one_root, day_root = LakeRoot.open(one_dir), LakeRoot.open(day_dir)
        one_inputs = _record_with_gaps(one_root, quote_table(rows, 1, day))
        day_inputs = _record_with_gaps(
            day_root, quote_table(day_rows * instruments, instruments, day)
        )
        ((partition, sources),) = raw_files(one_root).items()
        one_s, one_total = _best_coalesce(
            rounds, one_root, lambda: coalesce_partition(one_root, partition, sources).total
        )
        with _all_cores() as cores:
            day_s, day_total = _best_coalesce(
                rounds,
                day_root,
                lambda: sum(r.total for r in coalesce(day_root, day, threads=cores)),
            )
    return {
        "one_rows_per_s": one_total / one_s,
        "one_input_rows_per_s": one_inputs / one_s,
        "day_rows_per_s": day_total / day_s,
        "day_input_rows_per_s": day_inputs / day_s,
        "day_cores": cores,
    }


def bench_lake(quick: bool) -> tuple[list[Result], LakeFigures]:
    """Run every lake benchmark; small sizes with ``quick``."""
    rows = 100_000 if quick else 1_000_000
    results, sizes = bench_write(2 if quick else 3, rows, 50)
    opened, query, files = bench_query(10 if quick else 365, 50, 200)
    coalesced = bench_coalesce(2 if quick else 3, rows, 8, rows // 2)
    figures = LakeFigures(sizes["lake"], sizes["reference_csv"],
                          information_bytes_per_row(rows, 50), sizes["pandas_csv"], opened,
                          query, files, coalesced)  # fmt: skip
    return results, figures
