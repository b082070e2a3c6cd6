"""Latency in the embedded pipeline, and what the demo costs in CPU.

Latency: quotes arrive at a steady rate (a millisecond's worth at a time, each
with ``ts_recv`` = the wall clock when it is handed to the pipeline, as a live
adapter stamps it) and go through the enrichment stage of ``quoteflow enrich``
(memory bus, the default job) to a sink that notes, per enriched quote, the
time from ``ts_recv`` to its arrival. The first two seconds are left out
(warm-up). CPU: ``quoteflow demo`` runs as its own process at 50 instruments x
100 quote updates a second; its user + system CPU time over wall time in the
last third of the run, after its warm-up.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from quoteflow.app.settings import Settings
from quoteflow.bus import MemoryBus
from quoteflow.bus.base import Message
from quoteflow.enrich import Enricher, PreviousCloses
from quoteflow.events import Quote
from quoteflow.feeds.base import Normalized
from quoteflow.runtime import Pipeline, Stage
from quoteflow.sinks import Sink

QUOTEFLOW = str(Path(sys.executable).parent / "quoteflow")
WARM_UP_S = 2.0
TICK_S = 0.001


@dataclass(frozen=True)
class LatencyFigures:
    """Feed-to-enriched-record latency at a steady rate; the demo's CPU share."""

    rate_per_s: int
    quotes: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    pipeline_cpu: float  # CPU seconds per wall second of the latency run
    demo_cpu: float  # of the demo process at 50 x 100 updates/s


class _SteadyQuotes:
    """Quotes at ``rate_per_s`` over ``instruments`` for ``seconds``, stamped on the way out."""

    name = "steady"

    def __init__(self, rate_per_s: int, seconds: float, instruments: int) -> None:
        self.rate_per_s = rate_per_s
        self.seconds = seconds
        self.names = [f"SYN{i:02d}" for i in range(instruments)]

    async def stream(self):
        rng = random.Random(1)
        mids = dict.fromkeys(self.names, 100.0)
        started = time.perf_counter()
        sent = 0
        while (elapsed := time.perf_counter() - started) < self.seconds:
            due = int(elapsed * self.rate_per_s)
            events = []
            now = time.time_ns()
            for index in range(sent, due):
                name = self.names[index % len(self.names)]
                mids[name] += rng.choice((-0.01, 0.0, 0.01))
                events.append(Quote("SYNTHETIC", name, now, now, bid_price=mids[name] - 0.01,
                                    bid_size=100.0, ask_price=mids[name] + 0.01,
                                    ask_size=100.0))  # fmt: skip
            sent = due
            if events:
                yield Normalized(events)
            await asyncio.sleep(TICK_S)


class _LatencySink(Sink):
    """Notes, per enriched quote, the wall time from its ``ts_recv`` to now."""

    name = "latency"
    topics = ("quotes.enriched",)

    def __init__(self, start_ns: int) -> None:
        self.start_ns = start_ns
        self.latencies_ns: list[np.ndarray] = []

    async def write(self, messages: list[Message]) -> None:
        now = time.time_ns()
        for message in messages:
            value = message.value
            if isinstance(value, pa.RecordBatch):
                stamps = value.column("ts_recv").cast(pa.int64()).to_numpy()
            else:
                stamps = np.array([value.ts_recv], dtype=np.int64)
            self.latencies_ns.append(now - stamps[stamps >= self.start_ns])

    async def close(self) -> None:
        """Nothing to release."""


def _closes(names: list[str]) -> PreviousCloses:
    """A close of 100 for every instrument on each of the last 30 days."""
    today = date.today()
    days = {today - timedelta(days=back): 100.0 for back in range(1, 31)}
    return PreviousCloses(dict.fromkeys(names, days))


async def _latency_run(
    rate_per_s: int, seconds: float, instruments: int
) -> tuple[np.ndarray, float]:
    settings = Settings()
    feed = _SteadyQuotes(rate_per_s, seconds, instruments)
    job = Enricher(settings.enrich, _closes(feed.names))
    sink = _LatencySink(time.time_ns() + int(WARM_UP_S * 1e9))
    pipeline = Pipeline(MemoryBus(capacity=settings.bus.capacity), [feed],
                        [Stage("enrich", job.input_topics, job)], [sink])  # fmt: skip
    cpu, wall = time.process_time(), time.perf_counter()
    await pipeline.run()
    cpu_share = (time.process_time() - cpu) / (time.perf_counter() - wall)
    return np.concatenate(sink.latencies_ns) / 1e6, cpu_share


def _cpu_seconds(pid: int) -> float:
    """Return a process's user + system CPU time so far, from ``/proc`` (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _demo_cpu(seconds: float, measured_s: float) -> float:
    """Run ``quoteflow demo`` at 50 instruments x 100 updates/s; return CPU s per wall s.

    Measured over the last ``measured_s`` of the run, once its warm-up history
    (an hour of market time at 5 updates per instrument-second) is behind it.
    """
    with tempfile.TemporaryDirectory() as scratch:
        config = Path(scratch) / "demo.toml"
        config.write_text("[synthetic]\ninstruments = 50\nrate_per_s = 100.0\n")
        process = subprocess.Popen(
            [QUOTEFLOW, "--config", str(config), "demo", "--duration", str(seconds + 5)],
            cwd=scratch, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(seconds - measured_s)
        cpu, wall = _cpu_seconds(process.pid), time.perf_counter()
        time.sleep(measured_s)
        share = (_cpu_seconds(process.pid) - cpu) / (time.perf_counter() - wall)
        if process.wait() != 0:
            raise RuntimeError(f"quoteflow demo exited with status {process.returncode}")
    return share


def bench_latency(
    rate_per_s: int = 10_000, seconds: float = 12.0, instruments: int = 50, demo_s: float = 90.0
) -> LatencyFigures:
    """Measure the latency run and the demo's CPU share."""
    latencies, cpu_share = asyncio.run(_latency_run(rate_per_s, seconds, instruments))
    p50, p99 = np.percentile(latencies, [50, 99])
    demo = _demo_cpu(demo_s, demo_s / 3)
    return LatencyFigures(rate_per_s, len(latencies), float(p50), float(p99),
                          float(latencies.max()), cpu_share, demo)  # fmt: skip


if __name__ == "__main__":
    print(bench_latency())
