"""The ``quoteflow lake`` commands: record, coalesce, schedule, expire, ls, import."""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from quoteflow.cli.common import (
    TableFormat,
    fail,
    print_rows,
    progress_bar,
    settings_of,
    stderr,
    sub_app,
    usage,
)
from quoteflow.errors import QuoteflowError

if TYPE_CHECKING:
    from quoteflow.feeds.base import Feed, Normalized
    from quoteflow.lake.coalesce import CoalesceReport
    from quoteflow.lake.config import LakeSettings
    from quoteflow.lake.query import Lake
    from quoteflow.storage import LakeRoot

__all__ = ["EndpointOption", "RootOption", "lake_app", "open_lake"]

lake_app = sub_app("Record, coalesce, expire, list and import the data lake.")

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


FormatOption = Annotated[TableFormat, typer.Option("--format", help="table, csv or json (lines).")]


def _lake(
    ctx: typer.Context, root: str | None, endpoint: str | None, *, must_exist: bool = False
) -> tuple[LakeRoot, LakeSettings]:
    """Return the lake root the options or the config name, and the lake settings.

    With ``must_exist`` a root that does not exist is an error naming it: a
    mistyped --root should not look like an empty lake.
    """
    from quoteflow.storage import LakeRoot

    settings = settings_of(ctx).lake
    try:
        lake_root = LakeRoot.open(root or settings.root, endpoint or settings.endpoint_url)
        present = not must_exist or lake_root.is_present()
    except (QuoteflowError, OSError) as error:
        raise fail(error) from error
    if not present:
        given = "--root" if root else "[lake] root"
        raise fail(FileNotFoundError(f"no lake at {lake_root.uri} ({given}): nothing was "
                                     "recorded there"))  # fmt: skip
    return lake_root, settings


def open_lake(
    ctx: typer.Context, root: str | None, endpoint: str | None, *, must_exist: bool = False
) -> Lake:
    """Return the lake to query at the root the options or the config name."""
    from quoteflow.lake.query import Lake

    lake_root, _ = _lake(ctx, root, endpoint, must_exist=must_exist)
    try:
        return Lake(lake_root)
    except (QuoteflowError, OSError) as error:
        raise fail(error) from error


def _day(option: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise usage(option, text, "a date like 2024-04-01") from None


def _duration(option: str, text: str) -> timedelta:
    match = re.fullmatch(r"([0-9]+)([dh])", text)
    if match is None:
        raise usage(option, text, "a duration like 30d or 12h")
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
    import asyncio

    from quoteflow.app.record import record_feed
    from quoteflow.app.sources import synthetic_market
    from quoteflow.feeds.replay import ReplayFeed
    from quoteflow.feeds.synthetic import SyntheticFeed
    from quoteflow.formats.records import count_records
    from quoteflow.lake.writer import LakeWriter
    from quoteflow.runtime import install_stop_signals

    lake_root, settings = _lake(ctx, root, endpoint_url)
    stream: Feed
    total: int | None = None
    if feed is FeedName.replay:
        if not files:
            raise usage("--feed", "replay", "record files to replay, e.g. data/quotes.parquet")
        stream = ReplayFeed(files, speed=None)
        name = checkpoint or "replay-" + "-".join(p.stem for p in files)
        counts = [count_records(path) for path in files]
        total = None if None in counts else sum(counts)  # type: ignore[arg-type]
    else:
        market = synthetic_market(settings_of(ctx).synthetic)
        stream = SyntheticFeed(market, speed=None if fast else 1.0, duration_s=duration)
        name = checkpoint or "synthetic"
    writer = LakeWriter(lake_root, source.value, chunk_rows=chunk_rows or settings.chunk_rows,
                        chunk_age_s=chunk_age or settings.chunk_age_s, checkpoint=name)  # fmt: skip
    skip = writer.resume_offset() if resume else 0

    async def run() -> None:
        stop = asyncio.Event()
        install_stop_signals(stop)
        with progress_bar("recording records", total) as bar:

            def advance(normalized: Normalized) -> None:
                bar.advance(0, normalized.count)

            await record_feed(stream, writer, stop, skip=skip, on_frame=advance)

    try:
        asyncio.run(run())
    except (QuoteflowError, OSError) as error:
        raise fail(error) from error
    stderr.print(f"recorded {writer.rows_written:,} records in {writer.chunks_written:,} chunks "
                 f"(resumed at {skip:,})")  # fmt: skip


def _print_reports(reports: list[CoalesceReport], output_format: TableFormat) -> None:
    from quoteflow.lake.layout import refined_span

    columns = ("provider", "type", "instrument", "day", "primary only", "replica only", "both",
               "kept from refined", "total", "conflicts", "skipped chunks")  # fmt: skip
    rows = [(r.partition.provider, r.partition.type, r.partition.instrument,
             refined_span(r.partition), r.primary_only, r.replica_only, r.both, r.from_refined,
             r.total, r.conflicts, len(r.skipped))
            for r in reports if r.refused is None]  # fmt: skip
    print_rows(columns, rows, output_format)
    for r in reports:
        if r.corrected or r.cancelled or r.unmatched:
            where = f"{r.partition.instrument} {r.partition.type} {refined_span(r.partition)}"
            stderr.print(f"{where}: {r.corrected:,} trades corrected, {r.cancelled:,} cancelled, "
                         f"{r.unmatched:,} corrections or cancels matched no trade")  # fmt: skip
        for path, reason in r.skipped:
            stderr.print(f"skipped {path}: {reason}")
        if r.refused is not None:
            stderr.print(f"refused {r.partition.directory()}: {r.refused}")


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
    output_format: FormatOption = TableFormat.table,
) -> None:
    """Join primary and replica chunks into refined daily files; print rows by origin.

    A day refined before is merged with its chunks again: late chunks are added,
    rows whose chunks have expired are kept. Chunks that cannot be read are
    reported on stderr and skipped, and a partition whose refined file cannot be
    read while chunks it was built from are gone is refused; the exit code is
    then 1.
    """
    from quoteflow.lake.coalesce import coalesce, pending_days
    from quoteflow.storage import LakeRoot

    if (day is None) == (not all_pending):
        raise usage("--day", day, "give --day YYYY-MM-DD or --all-pending, not both or neither")
    lake_root, settings = _lake(ctx, root, endpoint_url, must_exist=True)
    days = [_day("--day", day)] if day else pending_days(lake_root, datetime.now(UTC).date())
    csv_root = LakeRoot.open(csv, endpoint_url) if csv else None
    reports = []
    with progress_bar("coalescing instrument-days") as bar:
        for one in days:
            bar.update(0, description=f"coalescing {one}", completed=0, total=None)
            reports += coalesce(
                lake_root, one, provider=provider, kind=kind, instrument=instrument,
                csv_root=csv_root, threads=threads or settings.coalesce_threads,
                progress=lambda done, total: bar.update(0, completed=done, total=total),
            )  # fmt: skip
    _print_reports(reports, output_format)
    if any(r.skipped or r.refused for r in reports):
        raise typer.Exit(1)


@lake_app.command("schedule")
def schedule(
    ctx: typer.Context,
    every: Annotated[float, typer.Option(min=1, help="Seconds between runs.")] = 86_400,
    once: Annotated[bool, typer.Option("--once", help="Run once and exit.")] = False,
    root: RootOption = None,
    endpoint_url: EndpointOption = None,
    output_format: FormatOption = TableFormat.table,
) -> None:
    """Coalesce every finished day not refined yet, now and then every --every seconds."""
    from quoteflow.lake.coalesce import coalesce, pending_days

    lake_root, settings = _lake(ctx, root, endpoint_url)
    while True:
        for one in pending_days(lake_root, datetime.now(UTC).date()):
            reports = coalesce(lake_root, one, threads=settings.coalesce_threads)
            _print_reports(reports, output_format)
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
    from quoteflow.lake.retention import expire

    lake_root, settings = _lake(ctx, root, endpoint_url, must_exist=True)
    age = (_duration("--older-than", older_than) if older_than
           else timedelta(days=settings.retention_days))  # fmt: skip
    if dead_letters_older_than:
        dead_age: timedelta | None = _duration("--dead-letters-older-than",
                                               dead_letters_older_than)  # fmt: skip
    elif settings.dead_letter_retention_days:
        dead_age = timedelta(days=settings.dead_letter_retention_days)
    else:
        dead_age = None
    report = expire(lake_root, age, datetime.now(UTC).date(),
                    dead_letters_older_than=dead_age, dry_run=dry_run)  # fmt: skip
    verb = "would delete" if dry_run else "deleted"
    for path in report.deleted:
        print(f"{verb} {path}")
    for partition in report.kept:
        stderr.print(
            f"kept chunks of {partition.directory()}: no readable refined file holds "
            "them yet (lake coalesce --all-pending refines them)"
        )
    stderr.print(f"{verb} {len(report.deleted):,} chunks")
    if report.temporaries:
        stderr.print(f"removed {report.temporaries:,} temporary files left by killed writers")


@lake_app.command("ls")
def ls(
    ctx: typer.Context,
    root: RootOption = None,
    endpoint_url: EndpointOption = None,
    output_format: FormatOption = TableFormat.table,
) -> None:
    """Summarise the lake: per view and day, instruments, files, rows and bytes."""
    columns = ("view", "day", "instruments", "files", "rows", "bytes")
    summary = open_lake(ctx, root, endpoint_url, must_exist=True).summary()
    print_rows(columns, [[row[c] for c in columns] for row in summary], output_format)


class Engine(StrEnum):
    """Engines ``lake catalog`` writes table definitions for."""

    athena = "athena"
    trino = "trino"
    spark = "spark"


@lake_app.command("catalog")
def catalog_command(
    ctx: typer.Context,
    engine: Annotated[Engine, typer.Option(help="athena, trino or spark.")] = Engine.athena,
    kind: Annotated[
        list[str] | None, typer.Option("--type", help="Only this type (repeat for several).")
    ] = None,
    root: RootOption = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Print SQL that defines one table per type over the refined files, for another engine.

    Athena: CREATE EXTERNAL TABLE with partition projection; Trino: CREATE TABLE
    and one register_partition call per partition; Spark: a temporary view over
    the type's files. DuckDB, polars and pyarrow read the files directly
    (docs/LAKE.md shows how).
    """
    from quoteflow.lake.catalog import catalog

    lake_root, _ = _lake(ctx, root, endpoint_url, must_exist=True)
    try:
        typer.echo(catalog(lake_root, engine.value, kind), nl=False)
    except (QuoteflowError, KeyError, ValueError, OSError) as error:
        raise fail(error) from error


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
    """Load end-of-day history into the lake (the previous closes of enrichment).

    The instrument of each row comes from --instrument-column, or is --instrument
    for the whole file: give exactly one of them. The bars are written one refined
    file per instrument and year; bars of sessions already stored are replaced.
    """
    from quoteflow.lake.importer import import_daily_bars
    from quoteflow.lake.layout import is_yearly

    if (instrument is None) == (instrument_column is None):
        expected = "give --instrument-column (e.g. Ticker) or --instrument, not both or neither"
        raise usage("--instrument-column", instrument_column, expected)
    if not file.is_file():
        raise usage("FILE", str(file), "an OHLCV CSV file that exists")
    if not is_yearly(kind):
        raise usage("--type", kind, "a type of daily bars such as bars_1d")
    lake_root, _ = _lake(ctx, root, endpoint_url)
    try:
        with progress_bar(f"importing {file.name}") as bar:
            report = import_daily_bars(
                lake_root, file, provider=provider, kind=kind, instrument=instrument,
                instrument_column=instrument_column, date_column=date_column, calendar=calendar,
                progress=lambda done, total: bar.update(0, completed=done, total=total),
            )  # fmt: skip
    except (QuoteflowError, ValueError, OSError) as error:
        raise fail(error) from error
    stderr.print(f"imported {report.rows:,} bars of {report.instruments} instruments "
                 f"into {report.files:,} files")  # fmt: skip
