"""Coalescing: one refined file per instrument-day from the primary and replica chunks.

(Per instrument-year for daily bars: see :func:`~quoteflow.lake.layout.is_yearly`;
coalescing a day of them refines its whole year.)

For each partition the raw chunks of both sources are read (a chunk that
cannot be read is reported and skipped; the rest of the day is still
refined), joined on the event (``ts_event`` and content, see
:mod:`quoteflow.lake._merge`), primary rows preferred, gaps filled from the
replica, duplicates dropped, and written in ``ts_event`` order as the refined
daily file.

A refined file knows its sources: its metadata (``quoteflow.sources``) lists
every raw chunk (``<source>/<name>``) whose rows it holds, those of the files
it replaced included. Coalescing a day again merges the existing refined file
with the chunks, so rows whose chunks have expired since are kept and late
chunks are added; a day with nothing new and nothing gone is up to date and is
not written again (unless a CSV export is asked for). A
partition with chunks its refined file does not list is pending (late data),
and ``lake expire`` deletes only chunks a readable refined file lists. If the
refined file cannot be read and chunks it lists are gone, coalescing that
partition is refused: rebuilding from the remaining chunks would lose rows.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from functools import partial

import msgspec
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from quoteflow.events import arrow_schema, from_batch
from quoteflow.formats.records import nested_as_json
from quoteflow.formats.reference import to_reference
from quoteflow.lake._amend import AMENDING, amend_trades
from quoteflow.lake._merge import Merged, merge_sources
from quoteflow.lake.layout import (
    Partition,
    content_digest,
    csv_name,
    is_yearly,
    parse_partition,
    record_class,
    refined_partition,
    refined_path,
)
from quoteflow.lake.writer import NULL_COLUMNS_KEY, chunk_bytes
from quoteflow.storage import LakeRoot

__all__ = [
    "REFINED_FROM_KEY",
    "SOURCES_KEY",
    "CoalesceReport",
    "chunk_key",
    "coalesce",
    "daily_files_of_year",
    "pending_days",
    "raw_files",
    "read_chunk",
    "refined_sources",
]

SOURCES_KEY = b"quoteflow.sources"
"""Key-value metadata of a refined file: JSON list of the raw chunks whose rows it holds."""
REFINED_FROM_KEY = b"quoteflow.refined_from"
"""Key-value metadata of a refined file: the digest of the earlier refined file it merged."""


@dataclass
class CoalesceReport:
    """What coalescing one partition did: row counts by origin and skipped chunks."""

    partition: Partition
    primary_only: int = 0
    replica_only: int = 0
    both: int = 0
    from_refined: int = 0
    """Rows kept from the earlier refined file that no remaining chunk holds."""
    conflicts: int = 0
    """Values of events both sources have that differ (the primary's was kept)."""
    corrected: int = 0
    """Trade corrections that changed a trade of the day (trades only)."""
    cancelled: int = 0
    """Trade cancels that took a trade out of the day (trades only)."""
    unmatched: int = 0
    """Corrections and cancels of the day that name no trade found in it."""
    skipped: list[tuple[str, str]] = field(default_factory=list)
    refused: str | None = None
    """Why the partition was not coalesced at all (its refined file is left as it was)."""
    total: int = 0
    """The rows of the refined file."""


def raw_files(root: LakeRoot) -> dict[Partition, dict[str, list[str]]]:
    """Return every raw chunk path by partition and source, in name (first timestamp) order."""
    found: dict[Partition, dict[str, list[str]]] = {}
    for info in root.files("raw"):
        if not info.base_name.endswith(".parquet"):
            continue
        parsed = parse_partition(root.relative(info.path))
        if parsed is None or parsed[0] is None:
            continue
        source, partition = parsed
        found.setdefault(partition, {}).setdefault(source, []).append(info.path)
    for sources in found.values():
        for paths in sources.values():
            paths.sort(key=_first_timestamp)
    return found


def chunk_key(source: str, path: str) -> str:
    """Return how a refined file lists a raw chunk: ``<source>/<file name>``."""
    return f"{source}/{path.rsplit('/', 1)[-1]}"


def refined_sources(root: LakeRoot, path: str) -> set[str] | None:
    """Return the chunks a refined file lists from its footer; None if it lists none.

    Refined files written before sources were recorded list none. Raises
    ``ValueError`` if the footer cannot be read.
    """
    try:
        with root.filesystem.open_input_file(path) as handle:
            metadata = pq.ParquetFile(handle).metadata.metadata or {}
        listed = metadata.get(SOURCES_KEY)
        return None if listed is None else set(msgspec.json.decode(listed, type=list[str]))
    except (OSError, pa.ArrowException, msgspec.DecodeError) as exc:
        raise ValueError(f"unreadable: {exc}") from exc


def _first_timestamp(path: str) -> tuple[int, str]:
    name = path.rsplit("/", 1)[-1]
    try:
        return int(name.split("_", 1)[0]), name
    except ValueError:
        return 0, name


def read_chunk(
    root: LakeRoot,
    path: str,
    schema: pa.Schema,
    made: dict[object, pa.Array] | None = None,
    data: bytes | None = None,
) -> pa.Table:
    """Read one chunk with the columns of ``schema``; raise ``ValueError`` saying what is wrong.

    Flat columns whose statistics show a single value (the provider and the
    instrument) or only nulls (most of a quote's optional fields, for most
    providers) are made from the metadata instead of decoded. Such arrays are
    kept in ``made`` and sliced for the next chunk of the same source. ``data``
    is the file's bytes, when the caller has read them already.
    """
    try:
        source = pa.BufferReader(root.read(path) if data is None else data)
        file = pq.ParquetFile(source, page_checksum_verification=True)
        stored = set(file.schema_arrow.names)
        missing = [name for name in schema.names if name not in stored]
        if missing:
            raise ValueError(f"missing columns: {', '.join(missing)}")
        known = _known_columns(file.metadata)
        table = file.read(columns=[name for name in schema.names if name not in known])
    except (OSError, pa.ArrowException) as exc:
        raise ValueError(f"unreadable: {exc}") from exc
    rows = file.metadata.num_rows
    made = {} if made is None else made
    columns = []
    for wanted in schema:
        if wanted.name not in known:
            columns.append(table.column(wanted.name))
        elif (value := known[wanted.name]) is None:
            columns.append(
                _made(made, ("null", wanted.type), rows, partial(pa.nulls, type=wanted.type))
            )
        else:
            columns.append(_made(made, ("text", value), rows, partial(pa.repeat, value)))
    try:
        if all(column.type == field.type for column, field in zip(columns, schema, strict=True)):
            return pa.table(columns, schema=schema)
        return pa.table(columns, names=schema.names).cast(schema)
    except (pa.ArrowException, ValueError) as exc:
        raise ValueError(f"columns of the wrong type: {exc}") from exc


def _made(
    made: dict[object, pa.Array], key: object, rows: int, make: Callable[[int], pa.Array]
) -> pa.Array:
    """Return ``rows`` of the array kept in ``made`` under ``key``, made if need be.

    It is made twice as long as asked: a source's chunks differ a little in length.
    """
    array = made.get(key)
    if array is None or len(array) < rows:
        array = made[key] = make(2 * rows)
    return array.slice(0, rows)


def _known_columns(metadata: pq.FileMetaData) -> dict[str, str | None]:
    """Return the columns the metadata describes whole: their one string, or None if null.

    The lake writer names the all-null columns, lists included; otherwise flat
    columns are judged by their statistics. Only strings are taken from their
    minimum and maximum: for floats those leave NaN out.
    """
    named = (metadata.metadata or {}).get(NULL_COLUMNS_KEY, b"[]")
    try:
        known: dict[str, str | None] = dict.fromkeys(msgspec.json.decode(named, type=list[str]))
    except msgspec.DecodeError as exc:
        raise ValueError(f"bad {NULL_COLUMNS_KEY.decode()} metadata: {exc}") from exc
    for index in range(metadata.num_columns):
        column = metadata.schema.column(index)
        if "." in column.path or column.path in known:
            continue
        is_string = column.logical_type.type == "STRING"
        values = {
            _whole_value(metadata.row_group(group), index, is_string)
            for group in range(metadata.num_row_groups)
        }
        if len(values) == 1 and _UNKNOWN not in values:
            known[column.path] = values.pop()
    return known


_UNKNOWN = object()


def _whole_value(row_group: pq.RowGroupMetaData, index: int, is_string: bool) -> object:
    """Return a column chunk's one string, None if it is all null, else ``_UNKNOWN``."""
    stats = row_group.column(index).statistics
    if stats is None or not stats.has_null_count:
        return _UNKNOWN
    if stats.null_count == row_group.num_rows:
        return None
    if is_string and not stats.null_count and stats.has_min_max and stats.min == stats.max:
        return stats.min
    return _UNKNOWN


def _source_table(
    root: LakeRoot, paths: Iterable[str], schema: pa.Schema, report: CoalesceReport
) -> pa.Table:
    tables, made = [], {}
    for path in paths:
        try:
            tables.append(read_chunk(root, path, schema, made))
        except ValueError as exc:
            report.skipped.append((root.relative(path), str(exc)))
    return pa.concat_tables(tables) if tables else schema.empty_table()


def coalesce_partition(
    root: LakeRoot,
    partition: Partition,
    sources: dict[str, list[str]],
    csv_root: LakeRoot | None = None,
    csv_directory: str = "",
    amending: dict[str, dict[str, list[str]]] | None = None,
) -> CoalesceReport:
    """Coalesce one partition's chunks into its refined file.

    With ``csv_root`` it also writes the reference CSV.gz, into ``csv_directory``
    under it (relative; the root itself by default). ``amending`` holds the raw
    chunks, by lake type and source, of the records that amend this partition's
    (trade corrections and cancels, for trades; see :mod:`quoteflow.lake._amend`).
    """
    report = CoalesceReport(partition)
    kind = record_class(partition.type)
    schema = arrow_schema(kind)
    target = root.join(refined_path(partition))
    amending = amending or {}
    chunks = {chunk_key(source, path)
              for found in (sources, *amending.values())
              for source, paths in found.items() for path in paths}  # fmt: skip
    previous, listed, previous_digest = _previous(root, target, schema, chunks, report)
    legacy = daily_files_of_year(root, partition)
    if legacy and report.refused is None:
        previous, listed = _with_daily_files(root, legacy, schema, previous, listed, report)
    if report.refused is not None:
        return report
    if previous is not None and listed == chunks and not legacy and csv_root is None:
        report.from_refined = report.total = previous.num_rows  # nothing new, nothing gone
        return report
    merged = _merged_sources(root, sources, kind, report)
    report.primary_only, report.replica_only, report.both = (int(c) for c in merged.counts)
    report.conflicts = merged.conflicts
    table = merged.table
    if amending:
        table, previous = _amended(root, partition, amending, table, previous, report)
    if previous is not None:
        merged = merge_sources(previous, table, kind)
        report.from_refined = int(merged.counts[0])
        table = merged.table
    report.total = table.num_rows
    unread = {_skipped_key(path) for path, _ in report.skipped if path.startswith("raw/")}
    covered = sorted(listed | (chunks - unread))
    if table.num_rows or not report.skipped:
        metadata = {SOURCES_KEY: msgspec.json.encode(covered)}
        if previous_digest is not None:
            metadata[REFINED_FROM_KEY] = previous_digest.encode()
        root.remove_stale_temporaries(root.relative(target).rsplit("/", 1)[0])
        root.write_atomic(target, chunk_bytes(table, metadata))
        for path in legacy:
            root.delete(path)
    if csv_root is not None:
        name = f"{csv_name(partition)}.csv.gz"
        csv_root.write_atomic(csv_root.join(*filter(None, (csv_directory, name))), _csv_gz(table))
    return report


def daily_files_of_year(root: LakeRoot, partition: Partition) -> list[str]:
    """Return the refined daily files a yearly partition replaces (lakes written before it).

    Empty for a partition of a daily type.
    """
    if not is_yearly(partition.type):
        return []
    year = root.relative(root.join(refined_path(partition))).rsplit("/", 1)[0]
    return sorted(info.path for info in root.files(year)
                  if "/month=" in info.path and info.base_name.endswith(".parquet"))  # fmt: skip


def _with_daily_files(root: LakeRoot, paths: list[str], schema: pa.Schema,
                      previous: pa.Table | None, listed: set[str],
                      report: CoalesceReport) -> tuple[pa.Table | None, set[str]]:  # fmt: skip
    """Return the earlier rows and listed chunks with those of refined daily files added."""
    tables = [] if previous is None else [previous]
    for path in paths:
        try:
            tables.append(read_chunk(root, path, schema))
            listed = listed | (refined_sources(root, path) or set())
        except ValueError as exc:
            report.refused = (f"{root.relative(path)} cannot be read ({exc}): restore it, or "
                              "delete it to refine its year without it")  # fmt: skip
            return previous, listed
    return pa.concat_tables(tables), listed


def _merged_sources(
    root: LakeRoot, sources: dict[str, list[str]], kind: type, report: CoalesceReport
) -> Merged:
    """Return the primary and replica chunks of a partition, read and merged."""
    schema = arrow_schema(kind)
    primary = _source_table(root, sources.get("primary", ()), schema, report)
    replica = _source_table(root, sources.get("replica", ()), schema, report)
    return merge_sources(primary, replica, kind)


def _partition_rows(
    root: LakeRoot, partition: Partition, sources: dict[str, list[str]], report: CoalesceReport
) -> pa.Table:
    """Return a partition's rows as coalescing it gives them: its refined file's and chunks'."""
    kind = record_class(partition.type)
    table = _merged_sources(root, sources, kind, report).table
    target = root.join(refined_path(partition))
    if root.exists(target):
        try:
            table = merge_sources(read_chunk(root, target, arrow_schema(kind)), table, kind).table
        except ValueError as exc:
            report.skipped.append((root.relative(target), str(exc)))
    return table


def _amended(
    root: LakeRoot,
    partition: Partition,
    amending: dict[str, dict[str, list[str]]],
    table: pa.Table,
    previous: pa.Table | None,
    report: CoalesceReport,
) -> tuple[pa.Table, pa.Table | None]:
    """Return the chunk rows and the earlier refined rows with the day's amendments applied."""
    corrections, cancels = (
        _partition_rows(root, partition._replace(type=kind), amending.get(kind, {}), report)
        for kind in AMENDING[partition.type]
    )
    done = amend_trades(table, corrections, cancels)
    corrected, cancelled = done.corrected, done.cancelled
    if previous is not None:
        earlier = amend_trades(previous, corrections, cancels)
        previous = earlier.table
        corrected, cancelled = corrected | earlier.corrected, cancelled | earlier.cancelled
    report.corrected, report.cancelled = len(corrected), len(cancelled)
    report.unmatched = corrections.num_rows + cancels.num_rows - len(corrected) - len(cancelled)
    return done.table, previous


def _skipped_key(relative: str) -> str:
    """Return the chunk key of a skipped chunk's root-relative path (``raw/source=S/...``)."""
    source = relative.split("/", 2)[1].removeprefix("source=")
    return chunk_key(source, relative)


def _previous(root: LakeRoot, target: str, schema: pa.Schema, chunks: set[str],
              report: CoalesceReport) -> tuple[pa.Table | None, set[str], str | None]:  # fmt: skip
    """Return the existing refined file's rows, the chunks it lists and its digest.

    No refined file: (None, empty, None). An unreadable one is rebuilt from the
    chunks if every chunk it lists is still there (reported as skipped);
    otherwise the partition is refused.
    """
    if not root.exists(target):
        return None, set(), None
    try:
        listed = refined_sources(root, target)
    except ValueError as exc:
        report.refused = (f"{root.relative(target)} cannot be read ({exc}) and the chunks it "
                          "was built from are unknown: restore it, or delete it to rebuild the "
                          "day from the chunks that are left")  # fmt: skip
        return None, set(), None
    try:
        data = root.read(target)
        table = read_chunk(root, target, schema, data=data)
        return table, listed or set(), content_digest(data)
    except (OSError, ValueError) as exc:
        gone = sorted((listed or set()) - chunks)
        if listed is None or gone:
            why = f"{len(gone):,} chunks it lists are gone" if gone else "it lists no chunks"
            report.refused = (f"{root.relative(target)} cannot be read ({exc}) and {why}: "
                              "restore it, or delete it to rebuild the day from the chunks "
                              "that are left")  # fmt: skip
            return None, set(), None
        report.skipped.append((root.relative(target), f"{exc}; rebuilt from its chunks"))
        return None, set(), None


def _csv_gz(table: pa.Table) -> bytes:
    """Return the rows as gzipped CSV with the reference camelCase columns; lists as JSON."""
    records = [to_reference(event) for event in from_batch(table)]
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz:
        if records:
            pacsv.write_csv(nested_as_json(pa.Table.from_pylist(records)), gz)
    return out.getvalue()


def coalesce(
    root: LakeRoot,
    day: date,
    *,
    provider: str | None = None,
    kind: str | None = None,
    instrument: str | None = None,
    csv_root: LakeRoot | None = None,
    threads: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> list[CoalesceReport]:
    """Coalesce every partition of ``day`` matching the filters; return one report each.

    Up to ``threads`` partitions are coalesced at once (reading, decoding,
    merging and encoding mostly release the GIL); each holds its whole day in
    memory. ``progress(done, total)`` is called as partitions finish. The CSV
    export is all or nothing: files are written into a hidden directory under
    ``csv_root`` and moved into place only once every partition is done.
    """
    if threads < 1:
        raise ValueError("threads must be >= 1")
    found = raw_files(root)
    wanted = {
        refined_partition(partition)
        for partition in found
        if partition.day == day
        and provider in (None, partition.provider)
        and kind in (None, partition.type)
        and instrument in (None, partition.instrument)
    }
    wanted |= _amended_by(root, wanted)
    gathered = _by_refined(found)
    chosen = [(partition, gathered.get(partition, {}), _amending(found, partition))
              for partition in sorted(wanted)]  # fmt: skip
    reports = []
    staging = f".coalescing-{uuid.uuid4().hex}"
    try:
        with ThreadPoolExecutor(threads) as pool:
            done = pool.map(lambda job: coalesce_partition(root, job[0], job[1], csv_root,
                                                           staging, job[2]), chosen)  # fmt: skip
            for report in done:
                reports.append(report)
                if progress is not None:
                    progress(len(reports), len(chosen))
        if csv_root is not None:
            for report in reports:
                name = f"{csv_name(report.partition)}.csv.gz"
                csv_root.filesystem.move(csv_root.join(staging, name), csv_root.join(name))
    finally:
        if csv_root is not None:
            csv_root.filesystem.delete_dir_contents(csv_root.join(staging), missing_dir_ok=True)
            with contextlib.suppress(OSError):
                csv_root.filesystem.delete_dir(csv_root.join(staging))
    return reports


def _amending(
    found: dict[Partition, dict[str, list[str]]], partition: Partition
) -> dict[str, dict[str, list[str]]]:
    """Return the raw chunks, by lake type, of the records that amend ``partition``."""
    return {kind: found.get(partition._replace(type=kind), {})
            for kind in AMENDING.get(partition.type, ())}  # fmt: skip


def _amended_by(root: LakeRoot, partitions: set[Partition]) -> set[Partition]:
    """Return the partitions with a refined file that amendments among ``partitions`` amend.

    A late correction of a day whose trade chunks have expired refines that day again.
    """
    amended = set()
    for amended_kind, kinds in AMENDING.items():
        for partition in partitions:
            target = partition._replace(type=amended_kind)
            if partition.type in kinds and root.exists(root.join(refined_path(target))):
                amended.add(target)
    return amended


def _by_refined(
    found: dict[Partition, dict[str, list[str]]],
) -> dict[Partition, dict[str, list[str]]]:
    """Return the raw chunks by refined partition: a yearly type's days gather in their year."""
    gathered: dict[Partition, dict[str, list[str]]] = {}
    for partition, sources in sorted(found.items()):
        into = gathered.setdefault(refined_partition(partition), {})
        for source, paths in sources.items():
            into.setdefault(source, []).extend(paths)
    return gathered


def pending_days(root: LakeRoot, today: date) -> list[date]:
    """Return the finished days (before ``today``) with chunks their refined file lacks.

    That is a partition with no refined file, one whose refined file does not
    list its sources (written before they were recorded), and one with chunks
    written after it was refined: late data.
    """
    days = set()
    for partition, sources in raw_files(root).items():
        if partition.day >= today or partition.day in days:
            continue
        target = root.join(refined_path(partition))
        if not root.exists(target):
            days.add(partition.day)
            continue
        try:
            listed = refined_sources(root, target)
        except ValueError:
            listed = None
        chunks = {chunk_key(source, path) for source, paths in sources.items() for path in paths}
        if listed is None or chunks - listed:
            days.add(partition.day)
    return sorted(days)
