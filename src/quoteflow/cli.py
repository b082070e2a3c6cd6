"""The ``quoteflow`` command: a thin layer over the library; every command has ``--help``."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import msgspec
import typer

from quoteflow import __version__
from quoteflow.cli_support import fail as _fail
from quoteflow.cli_support import settings_of as _settings
from quoteflow.cli_support import stderr as _stderr
from quoteflow.config import masked
from quoteflow.errors import QuoteflowError
from quoteflow.events import Quote, Trade
from quoteflow.exchange.cli import exchange_app
from quoteflow.feeds.replay import ReplayFeed
from quoteflow.feeds.synthetic import SyntheticFeed
from quoteflow.gateway.cli import keys_app, serve_command, subscribe_command
from quoteflow.ingest_cli import ingest_app
from quoteflow.lake.cli import lake_app, sql
from quoteflow.normalize import normalize_lines
from quoteflow.recordio import write_records
from quoteflow.reference import reference_json

__all__ = ["app"]

app = typer.Typer(
    help="quoteflow: real-time market data. Ingest, normalize, enrich, record, deliver.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)
feed_app = typer.Typer(help="Generate and replay feeds.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(feed_app, name="feed")
app.add_typer(lake_app, name="lake")
app.add_typer(ingest_app, name="ingest")
app.add_typer(keys_app, name="keys")
app.add_typer(exchange_app, name="exchange")
app.command("serve")(serve_command)
app.command("subscribe")(subscribe_command)
app.command("sql")(sql)


class Provider(StrEnum):
    """Providers whose messages ``normalize`` reads."""

    alpaca = "alpaca"
    deribit = "deribit"
    ig = "ig"


class FileFormat(StrEnum):
    """Record file formats."""

    parquet = "parquet"
    csv = "csv"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"quoteflow {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="TOML config file (default: $QUOTEFLOW_CONFIG, else ./quoteflow.toml if present).",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """quoteflow: real-time market data. Ingest, normalize, enrich, record, deliver."""
    ctx.obj = config


@app.command()
def normalize(
    provider: Annotated[Provider, typer.Option(help="Whose messages stdin holds.")],
    instrument: Annotated[
        str | None,
        typer.Option(help="Instrument of the messages; required for IG (the epic)."),
    ] = None,
    keys: Annotated[
        bool, typer.Option("--keys", help="Start each record with provider, type, instrument.")
    ] = False,
) -> None:
    """Normalize raw provider messages, one JSON message per line on stdin.

    Writes reference records (camelCase, millisecond timestamps) as JSON lines on
    stdout and one line per rejected message on stderr ("line N: field: reason").
    A line may carry "receivedAtMs"; otherwise the receive time is now. Exits 0
    when every line was normalized, 1 otherwise.
    """
    rejected = 0
    out = sys.stdout
    lines = sys.stdin.buffer
    for result in normalize_lines(lines, provider.value, instrument=instrument, keys=keys):
        for record in result.records:
            out.write(msgspec.json.encode(record).decode())
            out.write("\n")
        for error in result.errors:
            rejected += 1
            print(f"line {result.line_number}: {error}", file=sys.stderr)
    out.flush()
    raise typer.Exit(1 if rejected else 0)


@app.command()
def demo(
    ctx: typer.Context,
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: until Ctrl-C).")
    ] = None,
    speed: Annotated[
        float, typer.Option(min=0.001, help="Market seconds per wall-clock second.")
    ] = 1.0,
    instruments: Annotated[
        int | None,
        typer.Option(min=1, max=1000, help="Synthetic instruments (default from config)."),
    ] = None,
) -> None:
    """Run the synthetic feed through the embedded pipeline with a live summary.

    Works offline; no services needed. Ctrl-C stops cleanly after draining.
    """
    from quoteflow.demo import run_demo

    settings = _settings(ctx)
    if instruments is not None:
        settings.synthetic.instruments = instruments
    asyncio.run(run_demo(settings, duration_s=duration, speed=speed))


@config_app.command("show")
def config_show(ctx: typer.Context) -> None:
    """Print the effective configuration (file + environment) with secrets masked."""
    typer.echo(json.dumps(masked(_settings(ctx)), indent=2))


@feed_app.command("synthetic")
def feed_synthetic(
    ctx: typer.Context,
    out_dir: Annotated[Path, typer.Option(help="Directory for quotes.<fmt> and trades.<fmt>.")],
    duration: Annotated[
        float,
        typer.Option(min=0.001, help="Market time to generate, in seconds (23400 = one session)."),
    ] = 3600.0,
    file_format: Annotated[FileFormat, typer.Option("--format", help="File format.")] = (
        FileFormat.parquet
    ),
    start: Annotated[
        str | None, typer.Option(help="First session date, YYYY-MM-DD (default: latest).")
    ] = None,
    instruments: Annotated[
        int | None, typer.Option(min=1, max=1000, help="Number of instruments.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
) -> None:
    """Generate seeded synthetic quotes and trades into files, as fast as possible."""
    from quoteflow.demo import synthetic_market

    config = _settings(ctx).synthetic
    overrides = {"instruments": instruments, "seed": seed}
    config = config.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    try:
        market = synthetic_market(config, date.fromisoformat(start) if start else None)
    except ValueError as error:
        raise _fail(error) from error
    feed = SyntheticFeed(market, speed=None, duration_s=duration, step_ms=60_000)

    async def collect() -> tuple[list[Quote], list[Trade]]:
        quotes: list[Quote] = []
        trades: list[Trade] = []
        async for batch in feed.stream():
            for event in batch.events:
                (quotes if isinstance(event, Quote) else trades).append(event)
        return quotes, trades

    from rich.progress import Progress

    with Progress(console=_stderr, transient=True) as progress:
        progress.add_task("generating synthetic records", total=None)
        quotes, trades = asyncio.run(collect())
    for name, records in (("quotes", quotes), ("trades", trades)):
        path = out_dir / f"{name}.{file_format.value}"
        if records:
            write_records(path, records)
            _stderr.print(f"wrote {len(records):,} synthetic {name} to {path}")


@app.command()
def enrich(
    ctx: typer.Context,
    replay: Annotated[
        list[Path] | None,
        typer.Option(help="Record files to replay (repeat the option); default: synthetic feed."),
    ] = None,
    previous_closes: Annotated[
        str | None,
        typer.Option(
            help="Daily bars file, OHLCV CSV or lake root with the closes (default: config)."
        ),
    ] = None,
    speed: Annotated[float, typer.Option(min=0.001, help="Market seconds per wall second.")] = 1.0,
    fast: Annotated[bool, typer.Option("--fast", help="No pacing: as fast as possible.")] = False,
    duration: Annotated[
        float | None, typer.Option(help="Synthetic feed: market seconds to generate.")
    ] = None,
    topics: Annotated[
        str, typer.Option(help="Comma-separated topics to print.")
    ] = "quotes.enriched,trades.enriched,bars",
) -> None:
    """Run the enrichment job in the embedded runtime; print its records as JSON lines.

    Settings come from the [enrich] section of the config (period, price, thresholds,
    indicators). With the synthetic feed the previous closes are synthetic too.
    Ctrl-C stops cleanly: open candles are flushed first.
    """
    from quoteflow.bus import MemoryBus
    from quoteflow.demo import feed_and_closes
    from quoteflow.enrich import Enricher
    from quoteflow.runtime import Pipeline, Stage, install_stop_signals
    from quoteflow.runtime.sinks import JsonLinesSink

    settings = _settings(ctx)
    try:
        feed, closes = feed_and_closes(
            settings,
            replay or [],
            None if fast else speed,
            previous_closes=previous_closes,
            duration_s=duration,
        )
        job = Enricher(settings.enrich, closes)
    except (QuoteflowError, ValueError) as error:
        raise _fail(error) from error
    wanted = tuple(
        f"{job.candles.topic}" if t.strip() == "bars" else t.strip() for t in topics.split(",")
    )

    async def run() -> None:
        stop = asyncio.Event()
        install_stop_signals(stop)
        bus = MemoryBus(partitions=settings.bus.partitions, capacity=settings.bus.capacity)
        stage = Stage("enrich", ("quotes", "trades"), job)
        await Pipeline(bus, [feed], [stage], [JsonLinesSink(wanted, sys.stdout)]).run(stop)

    try:
        asyncio.run(run())
    except QuoteflowError as error:
        raise _fail(error) from error


@app.command()
def indicators(
    input_file: Annotated[
        Path, typer.Option("--input", help="CSV with date, open, high, low, close, volume.")
    ],
    spec: Annotated[
        str,
        typer.Option(
            help="Indicators, e.g. 'sma:20,ema:12,rsi:14,macd:12:26:9,bbands:20:2,atr:14'. "
            "Known: sma ema wma rsi macd bbands atr stoch adx obv."
        ),
    ],
) -> None:
    """Compute indicators over an OHLCV CSV; write it with one column per output to stdout.

    Column names are matched case-insensitively; values are TA-Lib's (empty during
    warm-up). Output columns are named like sma_20 or macd_12_26_9_signal.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from quoteflow.indicators.spec import apply_specs, parse_specs

    try:
        specs = parse_specs(spec)
        table = pacsv.read_csv(input_file)
        by_name = {name.lower(): table.column(name) for name in table.column_names}
        numeric = {
            name: column.cast(pa.float64()).to_numpy(zero_copy_only=False)
            for name, column in by_name.items()
            if name in ("open", "high", "low", "close", "volume")
        }
        computed = apply_specs(specs, numeric)
    except (OSError, pa.ArrowInvalid, ValueError, KeyError) as error:
        raise _fail(error) from error
    for name, values in computed.items():
        table = table.append_column(name, pa.array(values, mask=np.isnan(values)))
    pacsv.write_csv(table, sys.stdout.buffer)


@feed_app.command("replay")
def feed_replay(
    files: Annotated[list[Path], typer.Argument(help="CSV or Parquet record files.")],
    speed: Annotated[
        float, typer.Option(min=0.001, help="Replay speed; 2 plays twice as fast.")
    ] = 1.0,
    fast: Annotated[bool, typer.Option("--fast", help="As fast as possible, no pacing.")] = False,
) -> None:
    """Replay record files in event-time order as JSON lines (reference records with keys)."""
    feed = ReplayFeed(files, speed=None if fast else speed)

    async def play() -> None:
        async for batch in feed.stream():
            for event in batch.events:
                sys.stdout.write(reference_json(event, keyed=True).decode() + "\n")
            sys.stdout.flush()

    try:
        asyncio.run(play())
    except QuoteflowError as error:
        raise _fail(error) from error
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


@app.command("run")
def run_command(
    ctx: typer.Context,
    stage: Annotated[str, typer.Argument(help="ingest, enrich, lake, gateway or match.")],
    bus: Annotated[str, typer.Option(help="The shared bus: kafka://host:port[,host:port].")],
    replay: Annotated[
        list[Path] | None, typer.Option(help="ingest: record files to replay (default: synthetic).")
    ] = None,
    fast: Annotated[bool, typer.Option("--fast", help="ingest: no pacing.")] = False,
    speed: Annotated[
        float, typer.Option(min=0.001, help="ingest: market seconds per wall second.")
    ] = 1.0,
    duration: Annotated[
        float | None, typer.Option(help="ingest: synthetic market seconds to generate.")
    ] = None,
    root: Annotated[str | None, typer.Option(help="lake: root (default: [lake] root).")] = None,
    source: Annotated[str, typer.Option(help="lake: primary or replica.")] = "primary",
    chunk_age: Annotated[
        float | None, typer.Option(min=0.001, help="lake: seconds a record may wait in a buffer.")
    ] = None,
) -> None:
    """Run one stage as its own process on a shared Kafka bus; start more to share the work.

    Each stage is a consumer group: a second process of the same stage takes half
    the partitions. SIGINT or SIGTERM stops it after draining what it holds.
    """
    from quoteflow.run import run_stage

    settings = _settings(ctx)
    try:
        asyncio.run(run_stage(stage, bus, settings, files=replay or [],
                              speed=None if fast else speed,
                              duration=duration, root=root, source=source,
                              chunk_age=chunk_age))  # fmt: skip
    except (QuoteflowError, ValueError) as error:
        raise _fail(error) from error
