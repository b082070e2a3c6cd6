"""Commands over market data: ``normalize``, ``indicators``, ``enrich``, ``demo``, ``feed``."""

from __future__ import annotations

import sys
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from quoteflow.cli.common import fail, progress_bar, settings_of, stderr, sub_app, usage
from quoteflow.feeds.registry import PROVIDERS

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from quoteflow.feeds.base import Feed, Normalized

__all__ = ["demo", "enrich", "feed_app", "indicators", "normalize"]

feed_app = sub_app("Generate and replay feeds.")


Provider = StrEnum("Provider", {name: name for name in PROVIDERS})
"""Providers whose messages ``normalize`` reads: the feeds' registry."""


class FileFormat(StrEnum):
    """Record file formats."""

    parquet = "parquet"
    csv = "csv"


class OutputFormat(StrEnum):
    """What ``enrich`` writes: JSON lines, or a Parquet or Arrow IPC file per topic."""

    jsonl = "jsonl"
    parquet = "parquet"
    arrow = "arrow"


class _Counted:
    """A feed that reports how many records it has yielded, for a progress bar."""

    def __init__(self, feed: Feed, advance: Callable[[int], object]) -> None:
        self.name = feed.name
        self._feed = feed
        self._advance = advance

    async def stream(self) -> AsyncIterator[Normalized]:
        """Yield the feed's batches, counting their records."""
        async for batch in self._feed.stream():
            self._advance(batch.count)
            yield batch


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
    from quoteflow.feeds.normalize import normalize_lines
    from quoteflow.formats.reference import reference_json

    if PROVIDERS[provider.value].instrument_required and not instrument:
        raise usage("--instrument", instrument, f"{provider.value} lines name no instrument: "
                    "give it (for IG the epic, e.g. CS.D.BITCOIN.CFE.IP)")  # fmt: skip
    rejected = 0
    out = sys.stdout.buffer
    for result in normalize_lines(sys.stdin.buffer, provider.value, instrument=instrument):
        if result.events:
            out.write(b"".join(reference_json(e, keyed=keys) + b"\n" for e in result.events))
        for error in result.errors:
            rejected += 1
            print(f"line {result.line_number}: {error}", file=sys.stderr)
    out.flush()
    raise typer.Exit(1 if rejected else 0)


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
    import asyncio

    from quoteflow.app.demo import run_demo

    settings = settings_of(ctx)
    if instruments is not None:
        settings.synthetic.instruments = instruments
    asyncio.run(run_demo(settings, duration_s=duration, speed=speed))


def _start_date(text: str | None, calendar: str) -> date | None:
    """Return ``--start`` as a date; a day without a session is refused, naming the next one."""
    if text is None:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise usage("--start", text, "a date like 2024-03-28") from None
    from quoteflow.calendars import calendar_by_name

    sessions = calendar_by_name(calendar)
    if not sessions.is_session(day):
        following = sessions.date_to_session(day, direction="next").date()
        raise usage("--start", text, f"{day:%A %Y-%m-%d} has no {calendar} session; "
                    f"the next one is {following}")  # fmt: skip
    return day


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
        str | None,
        typer.Option(help="First session date, YYYY-MM-DD; must be a session (default: latest)."),
    ] = None,
    instruments: Annotated[
        int | None, typer.Option(min=1, max=1000, help="Number of instruments.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
) -> None:
    """Generate seeded synthetic quotes and trades into files, as fast as possible.

    Also writes closes.csv: each instrument's (synthetic) close of the session
    before, for enrich --previous-closes.
    """
    import asyncio

    from quoteflow.app.sources import synthetic_market
    from quoteflow.events import batch_type
    from quoteflow.feeds.synthetic import SyntheticFeed
    from quoteflow.formats.records import BatchFileWriter

    config = settings_of(ctx).synthetic
    overrides = {"instruments": instruments, "seed": seed}
    config = config.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    try:
        market = synthetic_market(config, _start_date(start, config.calendar))
    except ValueError as error:
        raise fail(error) from error
    feed = SyntheticFeed(market, speed=None, duration_s=duration, step_ms=60_000)
    writers = {name: BatchFileWriter(out_dir / f"{name}.{file_format.value}")
               for name in ("quotes", "trades")}  # fmt: skip
    with progress_bar("generating market seconds", total=duration) as bar:

        async def collect() -> None:
            first: int | None = None
            async for normalized in feed.stream():
                step = normalized.interleaved
                if step is None:
                    continue
                for batch in step.batches:
                    if batch.num_rows:
                        writers[batch_type(batch.schema).TYPE].write(batch)  # type: ignore[union-attr]
                ts = [b.column("ts_event")[-1].value for b in step.batches if b.num_rows]
                first = first if first is not None else min(
                    b.column("ts_event")[0].value for b in step.batches if b.num_rows)  # fmt: skip
                bar.update(0, completed=(max(ts) - first) / 1e9)

        try:
            asyncio.run(collect())
        finally:
            for writer in writers.values():
                writer.close()
    for name, writer in writers.items():
        if writer.rows:
            stderr.print(f"wrote {writer.rows:,} synthetic {name} to {writer.path}")
    closes = out_dir / "closes.csv"
    rows = [(name, day.isoformat(), close) for name, by_day in market.previous_closes().items()
            for day, close in by_day.items()]  # fmt: skip
    closes.write_text("instrument,date,close\n" + "".join(f"{r[0]},{r[1]},{r[2]}\n" for r in rows))
    stderr.print(f"wrote the synthetic previous closes to {closes} (--previous-closes)")


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
        str, typer.Option(help="Comma-separated topics to write.")
    ] = "quotes.enriched,trades.enriched,bars",
    output_format: Annotated[
        OutputFormat,
        typer.Option("--format", help="jsonl (reference records), or parquet or arrow files."),
    ] = OutputFormat.jsonl,
    output: Annotated[
        Path | None,
        typer.Option(
            help="jsonl: the file to write (default: stdout); parquet, arrow: the directory "
            "to write <topic>.parquet or <topic>.arrow files into (required)."
        ),
    ] = None,
) -> None:
    """Run the enrichment job in the embedded runtime; write its records.

    By default as JSON lines to stdout; with --format parquet or arrow, one file per
    topic in the --output directory. Settings come from the [enrich] section of the
    config (period, price, thresholds, indicators). With the synthetic feed the
    previous closes are synthetic too. Ctrl-C stops cleanly: open candles are
    flushed first.
    """
    import asyncio

    from quoteflow.app.sources import feed_and_closes
    from quoteflow.app.stages import embedded_enrich
    from quoteflow.enrich import Enricher
    from quoteflow.errors import QuoteflowError
    from quoteflow.formats.records import count_records
    from quoteflow.runtime import install_stop_signals
    from quoteflow.sinks import JsonLinesSink, RecordFilesSink, Sink

    if output_format is not OutputFormat.jsonl and output is None:
        raise usage("--output", "", f"--format {output_format} writes files: name a directory")
    if output is not None and output_format is not OutputFormat.jsonl and output.is_file():
        raise usage("--output", str(output), "is a file; parquet and arrow need a directory")
    settings = settings_of(ctx)
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
        raise fail(error) from error
    wanted = tuple(
        f"{job.candles.topic}" if t.strip() == "bars" else t.strip() for t in topics.split(",")
    )

    counts = [count_records(path) for path in replay or []]
    total = sum(counts) if counts and None not in counts else None  # type: ignore[arg-type]

    async def run() -> None:
        stop = asyncio.Event()
        install_stop_signals(stop)
        with progress_bar("enriching records", total) as bar:
            counted = _Counted(feed, lambda n: bar.advance(0, n))
            sink: Sink
            if output_format is OutputFormat.jsonl:
                stream = sys.stdout.buffer if output is None else output.open("wb")
                sink = JsonLinesSink(wanted, stream)
            else:
                sink = RecordFilesSink(wanted, output, output_format.value)  # type: ignore[arg-type]
            try:
                await embedded_enrich(settings, counted, job, [sink]).run(stop)
            finally:
                if output is not None and output_format is OutputFormat.jsonl:
                    stream.close()

    try:
        asyncio.run(run())
    except (QuoteflowError, BrokenPipeError) as error:
        raise fail(error) from error


def indicators(
    input_file: Annotated[
        Path, typer.Option("--input", help="CSV with date, open, high, low, close, volume.")
    ],
    spec: Annotated[
        str,
        typer.Option(
            help="Indicators, e.g. 'sma:20,ema:12,rsi:14,macd:12:26:9,bbands:20:2,atr:14'. "
            "An unknown name is refused with the list of the known ones."
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
    except ValueError as error:
        raise usage("--spec", spec, str(error)) from None
    try:
        table = pacsv.read_csv(input_file)
    except (OSError, pa.ArrowInvalid) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise fail(
            ValueError(f"--input {input_file}: not a readable CSV ({reason[:200]})")
        ) from None
    try:
        by_name = {name.lower(): table.column(name) for name in table.column_names}
        numeric = {
            name: column.cast(pa.float64()).to_numpy(zero_copy_only=False)
            for name, column in by_name.items()
            if name in ("open", "high", "low", "close", "volume")
        }
        computed = apply_specs(specs, numeric)
    except (pa.ArrowInvalid, ValueError, KeyError) as error:
        raise fail(ValueError(f"--input {input_file}: {error}")) from error
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
    import asyncio

    from quoteflow.errors import QuoteflowError
    from quoteflow.feeds.replay import ReplayFeed
    from quoteflow.formats.reference import reference_json

    feed = ReplayFeed(files, speed=None if fast else speed)

    async def play() -> None:
        async for batch in feed.stream():
            for event in batch.records():
                sys.stdout.write(reference_json(event, keyed=True).decode() + "\n")
            sys.stdout.flush()

    try:
        asyncio.run(play())
    except (QuoteflowError, BrokenPipeError) as error:
        raise fail(error) from error
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
