"""The ``quoteflow lake`` commands and ``quoteflow sql``."""

from __future__ import annotations

import asyncio
import io
import json
import re
import sys
import time
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from quoteflow.cli_support import fail, settings_of, stderr
from quoteflow.config import LakeSettings
from quoteflow.errors import QuoteflowError
from quoteflow.feeds.base import Feed
from quoteflow.lake.coalesce import CoalesceReport, coalesce, pending_days
from quoteflow.lake.importer import import_daily_bars
from quoteflow.lake.query import Lake
from quoteflow.lake.retention import expire
from quoteflow.lake.storage import LakeRoot
from quoteflow.lake.writer import LakeWriter

__all__ = ["lake_app", "sql"]

lake_app = typer.Typer(
    help="Record, coalesce, expire, list and import the data lake.", no_args_is_help=True
)
_stdout = Console()

RootOption = Annotated[
    str | None, typer.Option("--root", help="Lake root: directory or s3://bucket/prefix.")
]
EndpointOption = Annotated[
    str | None, typer.Option("--endpoint-url", help="S3-compatible endpoint (MinIO, localstack).")
]


class Source(StrEnum):
    """Which ingester a recording is."""

    primary = "primary"
    replica = "replica"


class FeedName(StrEnum):
    """Feeds ``lake record`` can record."""

    synthetic = "synthetic"
    replay = "replay"


class OutputFormat(StrEnum):
    """How ``sql`` prints its result."""

    table = "table"
    csv = "csv"
    json = "json"
    parquet = "parquet"


def _lake(
    ctx: typer.Context, root: str | None, endpoint: str | None
) -> tuple[LakeRoot, LakeSettings]:
    settings = settings_of(ctx).lake
    try:
        return LakeRoot.open(root or settings.root, endpoint or settings.endpoint_url), settings
    except QuoteflowError as error:
        raise fail(error) from error


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date like 2024-04-01") from None


def _duration(text: str) -> timedelta:
    match = re.fullmatch(r"([0-9]+)([dh])", text)
    if match is None:
        raise typer.BadParameter(f"{text!r} is not a duration like 30d or 12h")
    amount = int(match.group(1))
    return timedelta(days=amount) if match.group(2) == "d" else timedelta(hours=amount)


@lake_app.command("record")
def record(
    ctx: typer.Context,
    feed: Annotated[FeedName, typer.Option(help="What to record.")] = FeedName.synthetic,
    files: Annotated[
        list[Path] | None, typer.Argument(help="Record files for --feed replay.")
    ] = None,
    source: Annotated[Source, typer.Option(help="primary, or replica for a second ingester.")] = (
        Source.primary
    ),
    root: RootOption = None,
    endpoint_url: EndpointOption = None,
    chunk_rows: Annotated[int | None, typer.Option(min=1, help="Records per chunk.")] = None,
    chunk_age: Annotated[
        float | None, typer.Option(min=0.001, help="Seconds a record may wait in a buffer.")
    ] = None,
    checkpoint: Annotated[
        str | None, typer.Option(help="Name of the durable-offset checkpoint (default: feed).")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Skip what the checkpoint says is durable.")
    ] = False,
    fast: Annotated[bool, typer.Option("--fast", help="No pacing: as fast as possible.")] = False,
    duration: Annotated[
        float | None, typer.Option(help="Synthetic feed: market seconds to generate.")
    ] = None,
) -> None:
    """Record a feed into raw chunks under source=primary|replica.

    After every chunk the durable offset (every record before it is in a chunk) is
    stored; with --resume a restarted recording of the same replay skips to it.
    Ctrl-C or SIGTERM flushes the buffers before exiting.
    """
    from quoteflow.demo import synthetic_market
    from quoteflow.feeds.replay import ReplayFeed
    from quoteflow.feeds.synthetic import SyntheticFeed
    from quoteflow.runtime import install_stop_signals

    lake_root, settings = _lake(ctx, root, endpoint_url)
    stream: Feed
    if feed is FeedName.replay:
        if not files:
            raise fail(ValueError("--feed replay needs record files"))
        stream = ReplayFeed(files, speed=None)
        name = checkpoint or "replay-" + "-".join(p.stem for p in files)
    else:
        market = synthetic_market(settings_of(ctx).synthetic)
        stream = SyntheticFeed(market, speed=None if fast else 1.0, duration_s=duration)
        name = checkpoint or "synthetic"
    writer = LakeWriter(lake_root, source.value, chunk_rows=chunk_rows or settings.chunk_rows,
                        chunk_age_s=chunk_age or settings.chunk_age_s, checkpoint=name)  # fmt: skip
    skip = writer.resume_offset() if resume else 0
    writer.offset = skip

    async def run() -> None:
        stop = asyncio.Event()
        install_stop_signals(stop)
        remaining = skip
        async for normalized in stream.stream():
            events = normalized.events
            if remaining:
                dropped = min(remaining, len(events))
                events, remaining = events[dropped:], remaining - dropped
            if events:
                writer.add(events)
            writer.tick()
            if stop.is_set():
                break
        writer.flush()
        writer.close()

    try:
        asyncio.run(run())
    except QuoteflowError as error:
        raise fail(error) from error
    stderr.print(f"recorded {writer.rows_written:,} records in {writer.chunks_written:,} chunks "
                 f"(resumed at {skip:,})")  # fmt: skip


def _print_reports(reports: list[CoalesceReport]) -> None:
    table = Table("provider", "type", "instrument", "day", "primary only", "replica only", "both",
                  "total", "skipped chunks")  # fmt: skip
    for r in reports:
        p = r.partition
        table.add_row(p.provider, p.type, p.instrument, p.day.isoformat(), f"{r.primary_only:,}",
                      f"{r.replica_only:,}", f"{r.both:,}", f"{r.total:,}",
                      str(len(r.skipped)))  # fmt: skip
    _stdout.print(table)
    for r in reports:
        for path, reason in r.skipped:
            stderr.print(f"[yellow]skipped[/yellow] {path}: {reason}", highlight=False)


@lake_app.command("coalesce")
def coalesce_command(
    ctx: typer.Context,
    day: Annotated[str | None, typer.Option(help="The day, YYYY-MM-DD (UTC).")] = None,
    all_pending: Annotated[
        bool, typer.Option("--all-pending", help="Every finished day not refined yet.")
    ] = False,
    provider: Annotated[str | None, typer.Option(help="Only this provider.")] = None,
    kind: Annotated[str | None, typer.Option("--type", help="Only this type (quotes...).")] = None,
    instrument: Annotated[str | None, typer.Option(help="Only this instrument.")] = None,
    csv: Annotated[
        str | None, typer.Option(help="Also write reference CSV.gz files into this directory.")
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(min=1, help="Instrument-days at once (default: lake.coalesce_threads)."),
    ] = None,
    root: RootOption = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Join primary and replica chunks into refined daily files; print rows by origin.

    Chunks that cannot be read are reported on stderr and skipped; the exit code
    is then 1.
    """
    lake_root, settings = _lake(ctx, root, endpoint_url)
    if (day is None) == (not all_pending):
        raise fail(ValueError("give --day or --all-pending"))
    days = [_day(day)] if day else pending_days(lake_root, datetime.now(UTC).date())
    csv_root = LakeRoot.open(csv, endpoint_url) if csv else None
    reports = []
    with Progress(console=stderr, transient=True) as progress:
        for one in days:
            task = progress.add_task(f"coalescing {one}", total=None)
            reports += coalesce(
                lake_root, one, provider=provider, kind=kind, instrument=instrument,
                csv_root=csv_root, threads=threads or settings.coalesce_threads,
                progress=lambda done, total, task=task: progress.update(
                    task, completed=done, total=total),
            )  # fmt: skip
    _print_reports(reports)
    if any(r.skipped for r in reports):
        raise typer.Exit(1)


@lake_app.command("schedule")
def schedule(
    ctx: typer.Context,
    every: Annotated[float, typer.Option(min=1, help="Seconds between runs.")] = 86_400,
    once: Annotated[bool, typer.Option("--once", help="Run once and exit.")] = False,
    root: RootOption = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Coalesce every finished day not refined yet, now and then every --every seconds."""
    lake_root, settings = _lake(ctx, root, endpoint_url)
    while True:
        for one in pending_days(lake_root, datetime.now(UTC).date()):
            _print_reports(coalesce(lake_root, one, threads=settings.coalesce_threads))
        if once:
            return
        time.sleep(every)


@lake_app.command("expire")
def expire_command(
    ctx: typer.Context,
    older_than: Annotated[
        str | None, typer.Option(help="Age such as 30d or 12h (default: lake.retention_days).")
    ] = None,
    dead_letters_older_than: Annotated[
        str | None,
        typer.Option(
            help="Also delete dead letters received longer ago than this, such as 90d "
            "(default: lake.dead_letter_retention_days; unset keeps them)."
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List, do not delete.")] = False,
    root: RootOption = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Delete raw chunks of old days, only where the day's refined file is readable.

    Dead letters have no refined copy: they go only by their own age, when
    --dead-letters-older-than or lake.dead_letter_retention_days says so.
    """
    lake_root, settings = _lake(ctx, root, endpoint_url)
    age = _duration(older_than) if older_than else timedelta(days=settings.retention_days)
    if dead_letters_older_than:
        dead_age: timedelta | None = _duration(dead_letters_older_than)
    elif settings.dead_letter_retention_days:
        dead_age = timedelta(days=settings.dead_letter_retention_days)
    else:
        dead_age = None
    report = expire(lake_root, age, datetime.now(UTC).date(),
                    dead_letters_older_than=dead_age, dry_run=dry_run)  # fmt: skip
    verb = "would delete" if dry_run else "deleted"
    for path in report.deleted:
        _stdout.print(f"{verb} {path}", highlight=False)
    for partition in report.kept:
        stderr.print(f"kept {partition.directory()}: no readable refined file", highlight=False)
    stderr.print(f"{verb} {len(report.deleted):,} chunks")


@lake_app.command("ls")
def ls(ctx: typer.Context, root: RootOption = None, endpoint_url: EndpointOption = None) -> None:
    """Summarise the lake: per view and day, instruments, files, rows and bytes."""
    lake_root, _ = _lake(ctx, root, endpoint_url)
    table = Table("view", "day", "instruments", "files", "rows", "bytes")
    for row in Lake(lake_root).summary():
        table.add_row(row["view"], row["day"], str(row["instruments"]), f"{row['files']:,}",
                      f"{row['rows']:,}", f"{row['bytes']:,}")  # fmt: skip
    _stdout.print(table)


@lake_app.command("import")
def import_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="OHLCV CSV (.csv or .csv.gz).")],
    provider: Annotated[str, typer.Option(help="Provider name to store the bars under.")],
    kind: Annotated[str, typer.Option("--type", help="Lake type of the bars.")] = "bars_1d",
    instrument_column: Annotated[
        str | None, typer.Option(help="Column with the instrument (e.g. Ticker).")
    ] = None,
    instrument: Annotated[str | None, typer.Option(help="Instrument of the whole file.")] = None,
    date_column: Annotated[str, typer.Option(help="Column with the date.")] = "date",
    calendar: Annotated[str, typer.Option(help="Exchange calendar for session opens.")] = "XNYS",
    root: RootOption = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Load end-of-day history into refined daily files (the previous closes of enrichment)."""
    lake_root, _ = _lake(ctx, root, endpoint_url)
    try:
        with Progress(console=stderr, transient=True) as progress:
            task = progress.add_task(f"importing {file.name}", total=None)
            report = import_daily_bars(
                lake_root, file, provider=provider, kind=kind, instrument=instrument,
                instrument_column=instrument_column, date_column=date_column, calendar=calendar,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )  # fmt: skip
    except (QuoteflowError, ValueError) as error:
        raise fail(error) from error
    stderr.print(f"imported {report.rows:,} bars of {report.instruments} instruments "
                 f"into {report.files:,} files")  # fmt: skip


def sql(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="DuckDB SQL over the lake's views.")],
    output_format: Annotated[
        OutputFormat, typer.Option("--format", help="table, csv, json (lines) or parquet.")
    ] = OutputFormat.table,
    output: Annotated[
        Path | None, typer.Option(help="Write to this file instead of stdout.")
    ] = None,
    root: RootOption = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Run SQL over the lake: views <type> (refined) and raw_<type> (raw chunks).

    Partition columns provider, type, instrument, year, month, day (raw: source)
    prune the files read, e.g. WHERE instrument = 'AAPL' AND year = 2024.
    """
    lake_root, _ = _lake(ctx, root, endpoint_url)
    try:
        result = Lake(lake_root).sql(query)
    except duckdb.Error as error:
        raise fail(error) from error
    data = _render(result, output_format)
    if output is not None:
        output.write_bytes(data)
    elif output_format is OutputFormat.table:
        _print_table(result)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()


def _render(result: pa.Table, output_format: OutputFormat) -> bytes:
    if output_format is OutputFormat.parquet:
        sink = pa.BufferOutputStream()
        pq.write_table(result, sink, compression="zstd")
        return sink.getvalue().to_pybytes()
    if output_format is OutputFormat.json:
        lines = (json.dumps(row, default=str) for row in result.to_pylist())
        return "".join(line + "\n" for line in lines).encode()
    out = io.BytesIO()
    pacsv.write_csv(result, out)
    return out.getvalue()


def _print_table(result: pa.Table) -> None:
    table = Table(*result.column_names)
    for row in result.to_pylist():
        table.add_row(*("" if v is None else str(v) for v in row.values()))
    _stdout.print(table)
