"""Coalescing: one refined file per instrument-day from the primary and replica chunks.

For each partition the raw chunks of both sources are read (a chunk that
cannot be read is reported and skipped; the rest of the day is still
refined), joined on the event (``ts_event`` and content, see
:mod:`quoteflow.lake._merge`), primary rows preferred, gaps filled from the
replica, duplicates dropped, and written in ``ts_event`` order as the refined
daily file, replacing any earlier one. The result depends only on the raw
chunks, so coalescing again gives the same rows.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from quoteflow.events import arrow_schema, from_batch
from quoteflow.lake._merge import merge_sources
from quoteflow.lake._tables import take_rows
from quoteflow.lake.layout import Partition, csv_name, parse_partition, record_class, refined_path
from quoteflow.lake.storage import LakeRoot
from quoteflow.lake.writer import chunk_bytes
from quoteflow.reference import to_reference

__all__ = ["CoalesceReport", "coalesce", "pending_days", "raw_files", "read_chunk"]


@dataclass
class CoalesceReport:
    """What coalescing one partition did: row counts by origin and skipped chunks."""

    partition: Partition
    primary_only: int = 0
    replica_only: int = 0
    both: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Return the rows of the refined file."""
        return self.primary_only + self.replica_only + self.both


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


def _first_timestamp(path: str) -> tuple[int, str]:
    name = path.rsplit("/", 1)[-1]
    try:
        return int(name.split("_", 1)[0]), name
    except ValueError:
        return 0, name


def read_chunk(root: LakeRoot, path: str, schema: pa.Schema) -> pa.Table:
    """Read one chunk with the columns of ``schema``; raise ``ValueError`` saying what is wrong."""
    try:
        table = pq.read_table(pa.BufferReader(root.read(path)))
    except (OSError, pa.ArrowException) as exc:
        raise ValueError(f"unreadable: {exc}") from exc
    missing = [name for name in schema.names if name not in table.column_names]
    if missing:
        raise ValueError(f"missing columns: {', '.join(missing)}")
    try:
        return table.select(schema.names).cast(schema)
    except (pa.ArrowException, ValueError) as exc:
        raise ValueError(f"columns of the wrong type: {exc}") from exc


def _source_table(
    root: LakeRoot, paths: Iterable[str], schema: pa.Schema, report: CoalesceReport
) -> pa.Table:
    tables = []
    for path in paths:
        try:
            tables.append(read_chunk(root, path, schema))
        except ValueError as exc:
            report.skipped.append((root.relative(path), str(exc)))
    return pa.concat_tables(tables) if tables else schema.empty_table()


def coalesce_partition(
    root: LakeRoot,
    partition: Partition,
    sources: dict[str, list[str]],
    csv_root: LakeRoot | None = None,
) -> CoalesceReport:
    """Coalesce one partition's chunks into its refined file (and a CSV.gz with ``csv_root``)."""
    report = CoalesceReport(partition)
    schema = arrow_schema(record_class(partition.type))
    primary = _source_table(root, sources.get("primary", ()), schema, report)
    replica = _source_table(root, sources.get("replica", ()), schema, report)
    rows, counts = merge_sources(primary, replica)
    report.primary_only, report.replica_only, report.both = (int(c) for c in counts)
    table = take_rows(pa.concat_tables([primary, replica]), rows)
    if table.num_rows or not report.skipped:
        root.write_atomic(root.join(refined_path(partition)), chunk_bytes(table))
    if csv_root is not None:
        csv_root.write_atomic(csv_root.join(f"{csv_name(partition)}.csv.gz"), _csv_gz(table))
    return report


def _csv_gz(table: pa.Table) -> bytes:
    """Return the rows as gzipped CSV with the reference camelCase columns."""
    records = [to_reference(event) for event in from_batch(table)]
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz:
        if records:
            pacsv.write_csv(pa.Table.from_pylist(records), gz)
    return out.getvalue()


def coalesce(
    root: LakeRoot,
    day: date,
    *,
    provider: str | None = None,
    kind: str | None = None,
    instrument: str | None = None,
    csv_root: LakeRoot | None = None,
) -> list[CoalesceReport]:
    """Coalesce every partition of ``day`` matching the filters; return one report each."""
    reports = []
    for partition, sources in sorted(raw_files(root).items()):
        if partition.day != day:
            continue
        if provider not in (None, partition.provider) or kind not in (None, partition.type):
            continue
        if instrument not in (None, partition.instrument):
            continue
        reports.append(coalesce_partition(root, partition, sources, csv_root))
    return reports


def pending_days(root: LakeRoot, today: date) -> list[date]:
    """Return the finished days (before ``today``) with a partition not refined yet."""
    days = set()
    for partition in raw_files(root):
        if partition.day < today and not root.exists(root.join(refined_path(partition))):
            days.add(partition.day)
    return sorted(days)
