"""Whole commands as users run them: wall time and peak memory, quoteflow next to peers.

A synthetic session (``quoteflow feed synthetic``: 50 instruments, one exchange
session, about 6M quotes and 1.2M trades) is generated once. Each command then
runs as its own process on all cores, the sides taking turns in each round; the figure is
the median wall time from start to exit (start-up included) and the largest
peak resident memory (``ru_maxrss`` of the process).

The same-job comparison runs on the quotes alone, the job every side does:
one-minute candles of the quote mid, SMA 20, SMA 50 and RSI 14 on closed
candles, the move against the previous close at 5%, one record per quote
(quoteflow with ``price = "mid"`` and the price alerts off; the bar alerts
stay, at a handful per instrument and session). The peers are whole
programs in ``benchmarks/peers``: a plain Python loop with msgspec and
hand-written incremental indicators, the same loop as a Bytewax dataflow, and a
polars batch job (the batch upper anchor: it sees the whole file at once,
which a stream cannot).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from benchmarks.bench_normalize import alpaca_quote_frames

QUOTEFLOW = str(Path(sys.executable).parent / "quoteflow")
NORMALIZE_FRAMES = 1_000  # of 1,000 Alpaca quotes each
_CORES = set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else set()
ROOT = Path(__file__).resolve().parents[1]
SAME_JOB = """
[enrich]
period = "1m"
price = "mid"
indicators = "sma:20,sma:50,rsi:14"

[enrich.alerts]
session_extremes = false
move_changes = false
"""


@dataclass(frozen=True)
class CommandFigure:
    """One command's records, median wall time and largest peak memory."""

    name: str
    records: int
    wall_s: float
    rss_mb: float
    goal_per_s: float | None = None

    @property
    def per_s(self) -> float:
        """Return records per second of wall time."""
        return self.records / self.wall_s


_LAUNCHER = """
import os, subprocess, sys, time
started = time.perf_counter()
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(f"{time.perf_counter() - started} {usage.ru_maxrss} {status}")
"""
"""Runs a command and notes its wall time and peak memory. A process's ``ru_maxrss``
counts the memory it shared with its parent before ``exec``, so a command started
from the benchmark process (grown to gigabytes by then) would report that size."""


def _measure(command: list[str], cwd: Path, stdin: Path | None = None) -> tuple[float, float]:
    """Run ``command`` (reading ``stdin``); return its wall time in seconds and peak MB."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    figures = cwd / "measured.txt"
    with open(stdin or os.devnull, "rb") as source:
        process = subprocess.run(
            [sys.executable, "-c", _LAUNCHER, str(figures), *command], cwd=cwd, stdin=source,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, check=False,
        )  # fmt: skip
    wall, peak_kb, status = figures.read_text().split()
    if process.returncode or int(status):
        error = process.stderr.decode(errors="replace")
        raise RuntimeError(f"{' '.join(command)} failed: {error[-2000:]}")
    return float(wall), int(peak_kb) / 1024


def session(directory: Path, instruments: int, duration_s: float) -> tuple[Path, Path, Path]:
    """Generate the synthetic session into ``directory``; return quotes, trades, closes."""
    options = {"--out-dir": directory, "--duration": duration_s, "--instruments": instruments,
               "--seed": 1, "--start": "2026-11-02"}  # fmt: skip
    arguments = [str(part) for pair in options.items() for part in pair]
    subprocess.run([QUOTEFLOW, "feed", "synthetic", *arguments], check=True, capture_output=True)
    return directory / "quotes.parquet", directory / "trades.parquet", directory / "closes.csv"


def _cases(work: Path, quotes: Path, trades: Path, closes: Path) -> dict[str, _Case]:
    n_quotes, n_trades = pq.read_metadata(quotes).num_rows, pq.read_metadata(trades).num_rows
    both = ["--replay", str(quotes), "--replay", str(trades), "--previous-closes", str(closes)]
    enrich = [QUOTEFLOW, "enrich", *both, "--fast"]
    config = work / "same-job.toml"
    config.write_text(SAME_JOB)
    same = [QUOTEFLOW, "--config", str(config), "enrich", "--replay", str(quotes),
            "--previous-closes", str(closes), "--fast", "--topics", "quotes.enriched"]  # fmt: skip
    record = [QUOTEFLOW, "lake", "record", "--feed", "replay", "--root", str(work / "lake"),
              "--checkpoint", "bench", str(quotes), str(trades)]  # fmt: skip

    def peer(module: str, output: str) -> list[str]:
        return [sys.executable, "-m", f"benchmarks.peers.{module}", str(quotes), str(closes),
                str(work / output)]  # fmt: skip

    frames = work / "alpaca-frames.jsonl"
    frames.write_bytes(b"\n".join(alpaca_quote_frames(NORMALIZE_FRAMES, 1000)) + b"\n")
    normalize = [QUOTEFLOW, "normalize", "--provider", "alpaca"]
    total = n_quotes + n_trades
    return {
        "quoteflow normalize --provider alpaca (1,000-message frames)": _Case(
            normalize, NORMALIZE_FRAMES * 1000, 1e6, stdin=frames
        ),
        "quoteflow enrich --format parquet (quotes and trades)": _Case(
            [*enrich, "--format", "parquet", "--output", str(work / "out")], total, 3e6
        ),
        "quoteflow enrich --output FILE, JSON lines (quotes and trades)": _Case(
            [*enrich, "--output", str(work / "out.jsonl")], total, 1e6
        ),
        "quoteflow lake record --feed replay (quotes and trades)": _Case(record, total, 2e6),
        "same job: quoteflow enrich --format parquet": _Case(
            [*same, "--format", "parquet", "--output", str(work / "same")], n_quotes
        ),
        "same job: quoteflow enrich, JSON lines": _Case(
            [*same, "--output", str(work / "same.jsonl")], n_quotes
        ),
        "same job: plain Python loop with msgspec, JSON lines": _Case(
            peer("plain_loop", "plain.jsonl"), n_quotes
        ),
        "same job: Bytewax dataflow, JSON lines": _Case(
            peer("bytewax_flow", "bytewax.jsonl"), n_quotes
        ),
        "same job: polars batch job, Parquet": _Case(
            peer("polars_batch", "polars.parquet"), n_quotes
        ),
        "same job: polars batch job, JSON lines": _Case(
            peer("polars_batch", "polars.jsonl"), n_quotes
        ),
    }


@dataclass(frozen=True)
class _Case:
    command: list[str]
    records: int
    goal_per_s: float | None = None
    stdin: Path | None = None


def bench_commands(
    rounds: int = 2, instruments: int = 50, duration_s: float = 23_400
) -> list[CommandFigure]:
    """Run every command ``rounds`` times, taking turns; return the figures.

    The commands run on every core this process could use when it started, as
    users run them (the other benchmarks pin themselves to cores).
    """
    if _CORES:
        os.sched_setaffinity(0, _CORES)
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        cases = _cases(work, *session(work, instruments, duration_s))
        walls: dict[str, list[float]] = {name: [] for name in cases}
        peaks: dict[str, float] = dict.fromkeys(cases, 0.0)
        for _ in range(rounds):
            for name, case in cases.items():
                shutil.rmtree(work / "lake", ignore_errors=True)
                wall, rss = _measure(case.command, work, case.stdin)
                walls[name].append(wall)
                peaks[name] = max(peaks[name], rss)
    figures = []
    for name, case in cases.items():
        wall = statistics.median(walls[name])
        figures.append(CommandFigure(name, case.records, wall, peaks[name], case.goal_per_s))
    return figures


if __name__ == "__main__":
    for figure in bench_commands(rounds=1, instruments=10, duration_s=3600):
        print(f"{figure.name:60s} {figure.records:>10,} {figure.wall_s:7.2f} s "
              f"{figure.per_s:>12,.0f}/s {figure.rss_mb:7.0f} MB")  # fmt: skip
