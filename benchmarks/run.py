"""Run the benchmarks on one core and write the results to BENCHMARKS.md.

Usage: ``make bench`` (or ``python -m benchmarks.run [--quick]``).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pyarrow as pa

from benchmarks.bench_batches import bench_batches
from benchmarks.bench_commands import CommandFigure, bench_commands
from benchmarks.bench_enrich import BATCH_SIZES, bench_enrich
from benchmarks.bench_exchange import BATCH, EngineFigures, bench_exchange
from benchmarks.bench_feeds import FeedFigures, bench_feeds
from benchmarks.bench_gateway import GatewaySide, bench_gateway
from benchmarks.bench_indicators import bench_indicators
from benchmarks.bench_kafka import KafkaFigures, bench_kafka
from benchmarks.bench_lake import LakeFigures, bench_lake
from benchmarks.bench_latency import LatencyFigures, bench_latency
from benchmarks.bench_normalize import Result, run_all
from benchmarks.bench_startup import GOAL_S, StartupFigure, bench_startup

ROOT = Path(__file__).resolve().parents[1]
GOAL_ALPACA_PER_S = 1_000_000
GOAL_RATIO = 5.0


def pin_to_one_core() -> str:
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"pinned to CPU {core}"
    return "not pinned (no sched_setaffinity)"


def calibration_ms() -> float:
    """Time of sum(range(10**6)), best of 5: tells how fast this machine runs Python."""
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        sum(range(10**6))
        best = min(best, time.perf_counter() - started)
    return best * 1000


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _rows(results: list[Result]) -> list[str]:
    return [
        f"| {r.name} | {r.records:,} | {r.quoteflow_per_s:,.0f} | {r.baseline_per_s:,.0f} "
        f"| {r.ratio:.1f}x |"
        + (f" {r.decode_only_per_s:,.0f} |" if r.decode_only_per_s else (" - |"))
        for r in results
    ]


def _startup_section(startup: list[StartupFigure]) -> list[str]:
    floor = next(f for f in startup if f.name.startswith("python -c pass"))
    rows = [f"| `{f.name}` | {f.median_s * 1000:.0f} | {f.best_s * 1000:.0f} | "
            f"{f.median_s / floor.median_s:.1f}x |" for f in startup]  # fmt: skip
    slowest = max((f for f in startup if f.name.startswith("quoteflow")), key=lambda f: f.median_s)
    verdict = "met" if slowest.median_s < GOAL_S else "NOT met"
    return [
        "## Command start-up, whole processes",
        "",
        "Each command as a subprocess, wall clock from start to exit, 15 rounds taking turns.",
        "Commands import the library inside each command, so help and light commands load",
        "only Typer and the command modules. Floors: Python starting with nothing to import,",
        "and a bare Typer app with one command.",
        "",
        "| command | median ms | best ms | / bare Python |",
        "|---|---:|---:|---:|",
        *rows,
        "",
        f"Goal: light commands start in under {GOAL_S * 1000:.0f} ms: {verdict} (slowest: "
        f"`{slowest.name}`, {slowest.median_s * 1000:.0f} ms median).",
        "",
    ]


def _commands_section(commands: list[CommandFigure]) -> list[str]:
    rows = []
    for f in commands:
        goal = (
            "-"
            if f.goal_per_s is None
            else f">= {f.goal_per_s:,.0f}: " + ("met" if f.per_s >= f.goal_per_s else "NOT met")
        )
        rows.append(f"| `{f.name}` | {f.records:,} | {f.wall_s:.2f} | {f.per_s:,.0f} "
                    f"| {f.rss_mb:,.0f} | {goal} |")  # fmt: skip
    same = {f.name.removeprefix("same job: "): f for f in commands if f.name.startswith("same")}
    ours = same["quoteflow enrich, JSON lines"]
    plain = same["plain Python loop with msgspec, JSON lines"]
    bytewax = same["Bytewax dataflow, JSON lines"]
    polars = same["polars batch job, Parquet"]
    parquet = same["quoteflow enrich --format parquet"]
    return [
        "## Commands as users run them",
        "",
        "Whole commands as subprocesses on one synthetic session (`quoteflow feed synthetic`,",
        f"50 instruments, one exchange session), on all {len(os.sched_getaffinity(0))} cores, "
        "the sides taking turns; wall time from start",
        "to exit, start-up included, and peak resident memory. The same-job rows run the",
        "quotes alone through the job every side does (one-minute candles of the mid, SMA 20,",
        "SMA 50 and RSI 14 on closed candles, the previous-close move, a record per quote);",
        "the peers are whole programs in `benchmarks/peers`.",
        "",
        "| command | records | wall s | records/s | peak MB | goal |",
        "|---|---:|---:|---:|---:|---|",
        *rows,
        "",
        f"Same job, quoteflow / peer (wall time ratio, higher is faster): JSON lines vs the "
        f"plain loop {plain.wall_s / ours.wall_s:.2f}x (goal 5x), vs Bytewax "
        f"{bytewax.wall_s / ours.wall_s:.2f}x (goal 10x); Parquet vs the polars batch job "
        f"{polars.wall_s / parquet.wall_s:.2f}x (goal: within 2x, 0.5x or more).",
        "",
    ]


def _latency_section(latency: LatencyFigures) -> list[str]:
    return [
        "## Latency in the embedded pipeline",
        "",
        f"Quotes at {latency.rate_per_s:,}/s over 50 instruments, a millisecond's worth at a",
        "time, each stamped (`ts_recv`) as it is handed to the pipeline, through the enrichment",
        "stage of `quoteflow enrich` (memory bus, default job) to a sink that notes when each",
        "enriched quote arrives (`benchmarks/bench_latency.py`; the first 2 s left out). "
        f"{latency.quotes:,} quotes: p50 {latency.p50_ms:.2f} ms, p99 {latency.p99_ms:.2f} ms, "
        f"max {latency.max_ms:.2f} ms; the process used {latency.pipeline_cpu:.0%} of a core.",
        "",
        f"`quoteflow demo` at 50 instruments x 100 quote updates/s used {latency.demo_cpu:.0%} "
        "of a core (user + system CPU time over wall time in the last 30 s of a 90 s run,",
        "after its warm-up: an hour of market history at 5 updates per instrument-second).",
        "",
    ]


def render(
    results: list[Result],
    batches: list[Result],
    indicators: list[Result],
    enrich: list[Result],
    state_bytes: float,
    lake: list[Result],
    figures: LakeFigures,
    kafka: KafkaFigures,
    feeds: FeedFigures,
    gateway: list[GatewaySide],
    exchange: EngineFigures,
    startup: list[StartupFigure],
    commands: list[CommandFigure],
    latency: LatencyFigures,
    pinned: str,
    calibration: float,
) -> str:
    slowest = min(indicators, key=lambda r: r.ratio)
    quix = next(side for side in kafka.sides if side.name == "quix")
    ours = [side for side in kafka.sides if side.name.startswith("quoteflow")]
    floor = next(side for side in kafka.sides if side.name == "copy")
    best = max(ours, key=lambda side: side.per_s)
    fastest = min(ours, key=lambda side: side.latency_ms[1])
    storage_ratio = figures.lake_bytes_per_row / figures.reference_csv_bytes_per_row
    coalesced = figures.coalesce
    lake_rows = lake[0].records
    alpaca = max(
        (r for r in results if r.name.startswith("Alpaca")), key=lambda r: r.quoteflow_per_s
    )
    feed_best = max((s for s in feeds.sides if s.name == "quoteflow"), key=lambda s: s.per_s)
    feed_p99 = feeds.latency_ms["quoteflow"][1]
    sdk = {(s.name, s.per_frame): s.per_s for s in feeds.sides}
    bare = {side.input_per_s: side for side in gateway if side.name != "quoteflow"}
    served = [side for side in gateway if side.name == "quoteflow"]
    low, high = served[0], served[-1]
    cost_ratio = max(side.cpu_us_per_record / bare[side.input_per_s].cpu_us_per_record
                     for side in served)  # fmt: skip
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m benchmarks.run`); numbers from the last run on the",
        "machine below. Speed is compared side by side in the same run: ratios are what to read,",
        "since absolute figures move with the machine (this one varies by +-30% between runs).",
        "",
        "## Decode + normalize, records per second on one core",
        "",
        "Bytes in, one normalized record per message out (timestamps as int64 ns). quoteflow:",
        "typed msgspec decoding of the whole frame with every field validated, vectorised",
        "timestamp parsing. Baseline: `json.loads` and a dict per record with renamed fields and",
        "a hand-rolled timestamp parse, validating nothing. Best of 7 rounds, the sides taking",
        "turns in each round; the process is pinned to one core.",
        "",
        "The decode-only column is msgspec decoding the frame into the raw structs and nothing",
        "else: the ceiling for any normalizer built on it, on this machine.",
        "",
        "| case | messages | quoteflow rec/s | baseline rec/s | quoteflow / baseline "
        "| decode only rec/s |",
        "|---|---:|---:|---:|---:|---:|",
        *_rows(results),
        "",
        "## Records <-> Arrow batches, records per second on one core",
        "",
        "`events.to_batch` / `events.from_batch` on Alpaca quote records, 1,000 per batch.",
        "Baseline: `msgspec.structs.asdict` + `RecordBatch.from_pylist`; back, timestamps cast",
        "to int64, `to_pylist` and a record per dict.",
        "",
        "| case | records | quoteflow rec/s | baseline rec/s | quoteflow / baseline | - |",
        "|---|---:|---:|---:|---:|---:|",
        *_rows(batches),
        "",
        "## Batch indicators next to TA-Lib, values per second on one core",
        "",
        "`quoteflow.indicators` batch functions (numba-compiled kernels, the same ones the",
        "streaming form runs) against TA-Lib's C functions on the same 1,000,000-value series.",
        "Goal (issue 3): within 2x of TA-Lib, i.e. quoteflow / TA-Lib >= 0.5.",
        "",
        "| indicator | values | quoteflow values/s | TA-Lib values/s | quoteflow / TA-Lib | - |",
        "|---|---:|---:|---:|---:|---:|",
        *_rows(indicators),
        "",
        "## Enrichment throughput, quotes per second on one core",
        "",
        "The enrichment job on synthetic quotes for 50 instruments: 1-minute candles of the",
        "mid, SMA 20 / SMA 50 / RSI 14 on closed candles, the previous-close move, one enriched",
        "record per quote (alerts off). quoteflow takes Arrow batches of quotes and returns",
        "Arrow batches of enriched quotes (the engine: one compiled loop per batch;",
        "with alerts off, that loop is the one compiled without the price-alert code).",
        "Baselines: the same work as a plain per-event Python loop over decoded records with",
        "dict output, with talipp's incremental indicators or hand-written ones. The goals",
        "below use the 10,000-quote batches, the smaller and slower size. These are kernel",
        "figures (the engine alone, on batches in memory); what commands achieve with it,",
        'reading and writing included, is in "Commands as users run them".',
        "",
        "| case | quotes | quoteflow quotes/s | baseline quotes/s | quoteflow / baseline | - |",
        "|---|---:|---:|---:|---:|---:|",
        *_rows(enrich),
        "",
        f"State per instrument (the job's snapshot): {state_bytes:,.0f} bytes.",
        "",
        "## The lake",
        "",
        "Synthetic quotes (50 instruments, ns event times with random gaps, cent prices) in",
        "Arrow batches of 10,000, recorded by the lake writer into zstd Parquet chunks of",
        "100,000 rows with atomic writes (fsync, rename); chunks due at the same time are",
        "encoded and written on the writer's 2 threads (the default), so this comparison",
        "runs on every core of the machine, the baselines too, and again pinned to one core.",
        "Baselines on the same rows: pandas `to_csv(compression='gzip')` (the reference",
        "design's format; timed on 50,000 rows, it is slow) and one bare",
        "`pyarrow.parquet.write_table` of the whole table (zstd, one call).",
        "",
        "| case | rows | quoteflow rows/s | baseline rows/s | quoteflow / baseline | - |",
        "|---|---:|---:|---:|---:|---:|",
        *_rows(lake),
        "",
        "Bytes per quote row: lake chunks "
        f"{figures.lake_bytes_per_row:.2f}; the reference CSV.gz layout (camelCase columns,",
        f"millisecond timestamps) {figures.reference_csv_bytes_per_row:.2f}; pandas CSV.gz of "
        f"the same records (ns timestamps as text) {figures.pandas_csv_bytes_per_row:.2f}.",
        "The generator draws "
        f"{figures.information_bytes_per_row:.2f} bytes of information per row (nanosecond",
        "event times over a session, receive delays, instrument, price step, two sizes; see",
        "`information_bytes_per_row`), so no lossless format can store these rows in less on",
        "average; a third of the reference CSV.gz, "
        f"{figures.reference_csv_bytes_per_row / 3:.2f}, is below that: the CSV gets",
        "there by rounding both timestamps to milliseconds.",
        "",
        f"Query of one instrument-day in a lake of {figures.files:,} refined daily files "
        "(50 instruments, one file per instrument-day): "
        f"{figures.query_s * 1000:.1f} ms with the lake open (DuckDB over pyarrow datasets,",
        "partition pruning); opening it, which lists every file once per process, took "
        f"{figures.open_s:.2f} s.",
        "",
        "Coalescing, primary and replica each missing different 5%, reading both sources",
        "and writing the refined files included:",
        "",
        "| case | refined rows/s | input rows/s |",
        "|---|---:|---:|",
        f"| one instrument-day of {lake_rows:,} quotes, one core | "
        f"{coalesced['one_rows_per_s']:,.0f} | {coalesced['one_input_rows_per_s']:,.0f} |",
        f"| a day of 8 instruments x {lake_rows // 2:,} quotes, "
        f"{coalesced['day_cores']:.0f} cores (`coalesce --threads "
        f"{coalesced['day_cores']:.0f}`) | "
        f"{coalesced['day_rows_per_s']:,.0f} | {coalesced['day_input_rows_per_s']:,.0f} |",
        "",
        "## Distributed mode on Kafka",
        "",
        "One enrich process on its own core, on Apache Kafka 4.1.1 (one KRaft node, as the",
        "tests run it; 4 partitions, 50",
        "instruments; broker, producer and reader on the other core). Both sides run",
        "quoteflow's enrichment job with its defaults (1-minute candles, SMA 20/50, RSI 14,",
        "alerts): quoteflow as `quoteflow run enrich` (a transaction per partition and round",
        "with a changelog snapshot, bars and alerts published too, read_committed), Quix",
        "Streams 3.28 applying the same job per record (`benchmarks/quix_enrich.py`,",
        "at-least-once). `copy` (`benchmarks/kafka_copy.py`) copies each input record to its",
        "output with no work at all: what two hops through this broker cost, the floor for",
        "any enrich process. Each side on a fresh broker. Throughput: "
        f"{kafka.quotes:,} quotes written first, rate between the first and the",
        "last enriched quote readable. Latency: quotes sent at a steady rate with `ts_recv` =",
        "send time, measured to the moment the enriched quote is read, after a 2 s warm-up.",
        "",
        "| enrich process | quotes/s | vs Quix | latency p50 | latency p99 |",
        "|---|---:|---:|---:|---:|",
        *[
            f"| {side.name} | {side.per_s:,.0f} | {side.per_s / quix.per_s:.1f}x "
            f"| {side.latency_ms[0]:,.1f} ms | {side.latency_ms[1]:,.1f} ms |"
            for side in kafka.sides
        ],
        "",
        *[f"Not measured in this run: {failure}" for failure in kafka.failures],
        "",
        f"Latency at {kafka.rate_per_s:,} quotes/s. `quoteflow-transaction` commits each",
        "partition's round in a Kafka transaction; `quoteflow-idempotent` (`[bus] stage_commit",
        '= "idempotent"`) publishes the outputs, then the snapshot, and readers drop repeated',
        "`qf-seq` numbers; it stores the snapshots every 100 ms (`[bus] commit_interval_ms`).",
        "Every client (quoteflow, the producer standing in for the ingest stage, the reader)",
        "uses `linger.ms` = 1 and `fetch.wait.max.ms` = 1; the `copy` row shows what two",
        "hops through this broker cost.",
        "",
        "## Live feed adapters: Alpaca quote frames, socket to topic",
        "",
        "One adapter process on one core; a local server speaking Alpaca's stream v2 on the",
        "other core (`benchmarks/alpaca_flood.py`), flooding quotes after the handshake.",
        "quoteflow: `AlpacaStream` (JSON frames, typed decoding, normalized records) publishing",
        "each frame onto the memory bus's `quotes` topic. Peer: the official SDK alpaca-py's",
        "`StockDataStream` on the same quotes in msgpack (what it asks Alpaca for), counting in",
        "its handler: with its pydantic models (normalized records, as quoteflow gives) and",
        "with `raw_data=True` (undecoded dicts, no normalization). Rate between the first",
        f"frame and the last record delivered; {feeds.count:,} quotes (a quarter of that for",
        "frames of one quote).",
        "",
        "| client | quotes per frame | quotes/s | vs alpaca-py models |",
        "|---|---:|---:|---:|",
        *[
            f"| {side.name} | {side.per_frame} | {side.per_s:,.0f} "
            f"| {side.per_s / sdk[('alpaca-py (models)', side.per_frame)]:.1f}x |"
            for side in feeds.sides
        ],
        "",
        f"Added latency at {feeds.rate_per_s:,} quotes/s, one quote per frame, `t` = the",
        "server's send time, measured when the record is on the topic (quoteflow) or in the",
        "handler (alpaca-py), after a 1 s warm-up:",
        "",
        "| client | p50 | p99 |",
        "|---|---:|---:|",
        *[
            f"| {name} | {p50:,.2f} ms | {p99:,.2f} ms |"
            for name, (p50, p99) in feeds.latency_ms.items()
        ],
        "",
        "Bandwidth: bytes the server sent per quote (handshake included, 20,000 quotes),",
        "counted by a TCP proxy between the quoteflow client and the server, with the",
        "permessage-deflate quoteflow asks Alpaca for and without it. The flood's quotes",
        "repeat more than a real feed's, so real savings are smaller:",
        "",
        "| quotes per frame | plain JSON | permessage-deflate | saving |",
        "|---:|---:|---:|---:|",
        *[
            f"| {w.per_frame} | {w.plain:,.1f} B | {w.deflated:,.1f} B "
            f"| {w.plain / w.deflated:.1f}x |"
            for w in feeds.wire
        ],
        "",
        "## Delivery gateway: 100 subscribers on loopback",
        "",
        "One server process on one core publishes synthetic enriched quotes (100 instruments)",
        "at a steady input rate, a batch every 5 ms, to 100 WebSocket subscribers of 5",
        "instruments each (5% of the feed); two client processes on the other core hold 50",
        "connections each (`benchmarks/bench_gateway.py`). quoteflow: the gateway as `quoteflow",
        "serve` runs it (uvicorn, keys, per-connection bounded queues and rate limits), fed",
        "through its bus sink. Baseline: a bare `websockets` server doing the least that",
        "delivers the same bytes (each record encoded once, each client's part written at once",
        "with `broadcast`: no queues, no flow control, no auth). Delivered: records received",
        "by the clients per second over the measured window. Latency: `ts_recv` (set when the",
        "record is published) to the client's receipt, oldest record of each frame, ms",
        "resolution. Cost: the server process's CPU time per delivered record.",
        "",
        "| server | input rec/s | delivered rec/s | p50 | p99 | CPU us per record | vs bare "
        "| closed |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        *[
            f"| {side.name} | {side.input_per_s:,} | {side.delivered_per_s:,.0f} "
            f"| {side.latency_ms[0]:,.1f} ms | {side.latency_ms[1]:,.1f} ms "
            f"| {side.cpu_us_per_record:.2f} "
            f"| {side.cpu_us_per_record / bare[side.input_per_s].cpu_us_per_record:.2f}x "
            f"| {side.closed} |"
            for side in gateway
        ],
        "",
        "## Exchange matching engine, operations per second on one core",
        "",
        "A realistic flow on one symbol (`benchmarks/bench_exchange.py`, fixed seed, 50",
        "traders): 60% limit orders within 5 ticks of the touch (some crossing it), 22%",
        "cancels, 12% amends (half reduce the quantity, half re-price), 6% market orders.",
        "quoteflow: `exchange.engine.Engine` (price-time priority, self-trade prevention,",
        "expiry; for every command its order updates, executions and L2 book update), best of 3,",
        f"in batches of {BATCH:,} commands, three ways: the compiled matching loop on the",
        "commands encoded as rows (`Engine.run`; the encoding is done before the clock starts,",
        "as exchange benchmarks generate their commands beforehand), its results as rows",
        "(updates, executions, book changes); the same with the commands and results as",
        "Python records (`Engine.apply_all`: encoding, matching, records); and one call per",
        "command (`Engine.submit/cancel/amend`, how order entry uses it).",
        "Baseline: the plain reference book the tests check the engine against (every",
        "resting order in one list, searched each step), on the first "
        f"{exchange.reference_operations:,} commands.",
        "",
        "| book | operations | operations/s | vs reference |",
        "|---|---:|---:|---:|",
        f"| quoteflow engine, rows in and out | {exchange.operations:,} "
        f"| {exchange.engine_per_s:,.0f} "
        f"| {exchange.engine_per_s / exchange.reference_per_s:,.0f}x |",
        f"| quoteflow engine, records in and out, a batch at a time | {exchange.operations:,} "
        f"| {exchange.records_per_s:,.0f} "
        f"| {exchange.records_per_s / exchange.reference_per_s:,.0f}x |",
        f"| quoteflow engine, records, one call per command | {exchange.operations:,} "
        f"| {exchange.per_command_per_s:,.0f} "
        f"| {exchange.per_command_per_s / exchange.reference_per_s:,.0f}x |",
        f"| reference book (tests) | {exchange.reference_operations:,} "
        f"| {exchange.reference_per_s:,.0f} | 1x |",
        "",
        f"HTTP order -> acknowledgement latency at {exchange.ack_rate_per_s:,} orders/s: p50 "
        f"{exchange.ack_ms[0]:.2f} ms, p99 {exchange.ack_ms[1]:.2f} ms (`quoteflow exchange",
        "serve` on one core, an aiohttp client on the other sending limit orders around the",
        "touch, a third IOC, open loop, after a 1 s warm-up, the client's garbage collector",
        "off; each order committed to the SQLite command store, WAL without fsync, before",
        "its answer; the matching stage runs in the same process on the embedded bus).",
        "With `[exchange] fsync = true` (answers wait until a flush of the log to disk covers",
        f"them; one flush answers the orders that came meanwhile): p50 "
        f"{exchange.ack_fsync_ms[0]:.2f} ms, p99 {exchange.ack_fsync_ms[1]:.2f} ms.",
        "",
        *_startup_section(startup),
        *_commands_section(commands),
        *_latency_section(latency),
        "## Against the goals",
        "",
        "| goal | measured | met |",
        "|---|---:|:---:|",
        f"| >= {GOAL_ALPACA_PER_S:,} Alpaca quotes/s decoded and normalized "
        f"| {alpaca.quoteflow_per_s:,.0f} ({alpaca.name}) "
        f"| {'yes' if alpaca.quoteflow_per_s >= GOAL_ALPACA_PER_S else 'no'} |",
        f"| >= {GOAL_RATIO:.0f}x the json.loads baseline (Alpaca quotes) | {alpaca.ratio:.1f}x "
        f"| {'yes' if alpaca.ratio >= GOAL_RATIO else 'no'} |",
        f"| batch indicators within 2x of TA-Lib (issue 3) | {slowest.ratio:.2f} "
        f"(slowest: {slowest.name}) | {'yes' if slowest.ratio >= 0.5 else 'no'} |",
        f"| enrichment >= 2,000,000 quotes/s (issue 3) | {enrich[0].quoteflow_per_s:,.0f} "
        f"| {'yes' if enrich[0].quoteflow_per_s >= 2_000_000 else 'no'} |",
        f"| enrichment >= 20x talipp (issue 3) | {enrich[0].ratio:.2f}x "
        f"(batches of {BATCH_SIZES[0]:,}; of {BATCH_SIZES[1]:,}: {enrich[2].ratio:.2f}x) "
        f"| {'yes' if enrich[0].ratio >= 20 else 'no'} |",
        f"| lake write >= 2,000,000 rows/s (issue 4) | {lake[0].quoteflow_per_s:,.0f} "
        f"(2 threads, every core; one core: {lake[2].quoteflow_per_s:,.0f}) "
        f"| {'yes' if lake[0].quoteflow_per_s >= 2_000_000 else 'no'} |",
        f"| one instrument-day query < 100 ms (issue 4) | {figures.query_s * 1000:.1f} ms "
        f"(open lake) | {'yes' if figures.query_s < 0.1 else 'no'} |",
        f"| coalesce >= 5,000,000 rows/s (issue 4) | {coalesced['day_rows_per_s']:,.0f} "
        f"(a day, {coalesced['day_cores']:.0f} cores; one instrument-day on one core: "
        f"{coalesced['one_rows_per_s']:,.0f}) "
        f"| {'yes' if coalesced['day_rows_per_s'] >= 5_000_000 else 'no'} |",
        f"| Kafka: >= 300,000 quotes/s per enrich process (issue 5) | "
        f"{best.per_s:,.0f} ({best.name}) | {'yes' if best.per_s >= 300_000 else 'no'} |",
        f"| Kafka: >= 20x Quix Streams (issue 5) | {best.per_s / quix.per_s:.1f}x "
        f"| {'yes' if best.per_s >= 20 * quix.per_s else 'no'} |",
        f"| Kafka: p99 < 20 ms at {kafka.rate_per_s:,} quotes/s (issue 5) | "
        f"{fastest.latency_ms[1]:,.1f} ms ({fastest.name}; broker floor, `copy`: "
        f"{floor.latency_ms[1]:,.1f} ms) "
        f"| {'yes' if fastest.latency_ms[1] < 20 else 'no'} |",
        f"| feeds: >= 200,000 Alpaca quotes/s per adapter process (issue 6) | "
        f"{feed_best.per_s:,.0f} ({feed_best.per_frame} per frame) "
        f"| {'yes' if feed_best.per_s >= 200_000 else 'no'} |",
        f"| feeds: p99 < 2 ms added at {feeds.rate_per_s:,} quotes/s (issue 6) | "
        f"{feed_p99:,.2f} ms | {'yes' if feed_p99 < 2 else 'no'} |",
        f"| embedded pipeline: feed to enriched quote p99 < 2 ms at {latency.rate_per_s:,}/s "
        f"(issue 26) | {latency.p99_ms:.2f} ms | {'yes' if latency.p99_ms < 2 else 'no'} |",
        f"| demo at 50 x 100 updates/s: < 15% of a core (issue 26) | {latency.demo_cpu:.0%} "
        f"| {'yes' if latency.demo_cpu < 0.15 else 'no'} |",
        f"| gateway: >= 200,000 records/s delivered in total (issue 7) | "
        f"{high.delivered_per_s:,.0f} (input {high.input_per_s:,}/s) "
        f"| {'yes' if high.delivered_per_s >= 200_000 else 'no'} |",
        f"| gateway: p99 < 10 ms at {low.input_per_s:,} records/s input (issue 7) | "
        f"{low.latency_ms[1]:,.1f} ms | {'yes' if low.latency_ms[1] < 10 else 'no'} |",
        f"| gateway: cost per record <= 1.5x the bare websockets baseline (issue 7) | "
        f"{cost_ratio:.2f}x (worst rate) | {'yes' if cost_ratio <= 1.5 else 'no'} |",
        f"| exchange: >= 1,000,000 engine operations/s (issue 8) | "
        f"{exchange.engine_per_s:,.0f} (rows) "
        f"| {'yes' if exchange.engine_per_s >= 1_000_000 else 'no'} |",
        f"| exchange: p99 order acknowledgement < 5 ms at {exchange.ack_rate_per_s:,} orders/s "
        f"(issue 8) | {exchange.ack_ms[1]:.2f} ms | {'yes' if exchange.ack_ms[1] < 5 else 'no'} |",
        f"| storage <= 1/3 of CSV.gz (issue 4) | "
        f"{storage_ratio:.2f} of the "
        f"reference CSV.gz, {figures.lake_bytes_per_row / figures.pandas_csv_bytes_per_row:.2f} "
        f"of pandas CSV.gz; the rows' information alone is "
        f"{figures.information_bytes_per_row / figures.reference_csv_bytes_per_row:.2f} of it "
        f"| {'yes' if storage_ratio <= 1 / 3 else 'no'} |",
        "",
        "## Machine",
        "",
        f"- {cpu_model()}, {os.cpu_count()} cores, {pinned}",
        f"- Python {platform.python_version()}, msgspec {msgspec.__version__}, "
        f"pyarrow {pa.__version__}",
        f"- `sum(range(10**6))` takes {calibration:.1f} ms here "
        "(a recent desktop: about 10-12 ms),",
        "  so absolute figures on a desktop are roughly that factor higher.",
        f"- run at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small data, 2 rounds")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()
    pinned = pin_to_one_core()
    calibration = calibration_ms()
    results = run_all(rounds=2, scale=0.1) if args.quick else run_all()
    batches = bench_batches(rounds=2, frames=20) if args.quick else bench_batches(7, 100)
    indicators = bench_indicators(2, 100_000) if args.quick else bench_indicators(7, 1_000_000)
    enrich, state_bytes = bench_enrich(1, 50_000) if args.quick else bench_enrich(3, 1_000_000)
    lake, figures = bench_lake(args.quick)
    print(figures)
    kafka = bench_kafka(20_000, seconds=6) if args.quick else bench_kafka()
    print(kafka)
    feeds = bench_feeds(40_000, seconds=4) if args.quick else bench_feeds()
    print(feeds)
    gateway = bench_gateway(seconds=3) if args.quick else bench_gateway()
    print(gateway)
    exchange = bench_exchange(30_000, 5_000, 200) if args.quick else bench_exchange()
    print(exchange)
    startup = bench_startup(3 if args.quick else 15)
    print(startup)
    commands = bench_commands(1, 10, 3600) if args.quick else bench_commands()
    print(commands)
    latency = bench_latency(seconds=5, demo_s=45) if args.quick else bench_latency()
    print(latency)
    for r in (*results, *batches, *indicators, *enrich, *lake):
        print(
            f"{r.name:50s} {r.quoteflow_per_s:>10,.0f} {r.baseline_per_s:>10,.0f} {r.ratio:4.1f}x"
        )
    args.out.write_text(
        render(
            results,
            batches,
            indicators,
            enrich,
            state_bytes,
            lake,
            figures,
            kafka,
            feeds,
            gateway,
            exchange,
            startup,
            commands,
            latency,
            pinned,
            calibration,
        )
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
