"""SQL over the lake with DuckDB: a view per type, partition columns that prune.

Views: ``<type>`` reads the refined daily files of a type (``quotes``,
``bars_1d``), ``raw_<type>`` the raw chunks of both sources. Each has the
partition columns ``provider``, ``type``, ``instrument``, ``year``, ``month``,
``day`` (raw views also ``source``), so a filter on them reads only the
matching files. ``dead_letters`` holds what the ingesters could not process,
with ``source``, ``provider``, ``year``, ``month`` and ``day`` (of receipt).
The files are listed once, when :class:`Lake` opens them, and read through
pyarrow datasets, which also serve S3 without DuckDB's network extension.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from quoteflow.errors import QueryError
from quoteflow.events import Bar, DeadLetter, Event, arrow_schema
from quoteflow.lake.layout import lake_type, parse_partition, record_class, refined_span
from quoteflow.lake.writer import LakeWriter
from quoteflow.storage import LakeRoot

__all__ = ["Lake"]

_VERIFIED_PARQUET = ds.ParquetFileFormat(
    default_fragment_scan_options=ds.ParquetFragmentScanOptions(page_checksum_verification=True)
)
"""Parquet whose page checksums are verified as it is read: damage is an error."""
_SOURCE = pa.field("source", pa.string())
_PROVIDER = pa.field("provider", pa.string())
_DAY = [pa.field("year", pa.int32()), pa.field("month", pa.int32()), pa.field("day", pa.int32())]
_PARTITIONS = [
    _PROVIDER,
    pa.field("type", pa.string()),
    pa.field("instrument", pa.string()),
    *_DAY,
]


class Lake:
    """Read and write a lake with polars-style verbs; reads return Arrow.

    ``Lake.open("lake").read_sql("SELECT ...")`` returns a :class:`pyarrow.Table`,
    ``scan_sql`` a stream of batches, ``read_bars`` one instrument's bars;
    :meth:`pandas` and :meth:`polars` convert a query's result; ``write_records``
    adds records as raw chunks. Views: each record type of the refined files
    (``quotes``, ``bars_1d``, ...), ``raw_<type>`` for the raw chunks, and
    ``dead_letters``.
    """

    def __init__(self, root: LakeRoot) -> None:
        self.root = root
        self.connection = duckdb.connect()
        self.files: dict[str, list[Any]] = defaultdict(list)
        self._register()

    @classmethod
    def open(cls, root: str | Path, endpoint_url: str | None = None) -> Lake:
        """Open the lake at a directory or an ``s3://bucket/prefix`` URI."""
        return cls(LakeRoot.open(root, endpoint_url))

    def _register(self) -> None:
        """List the lake's files and register one view per record type and area."""
        for name in self.files:
            self.connection.unregister(name)
        self.files = defaultdict(list)
        root = self.root
        for area in ("raw", "refined"):
            for info in root.files(area):
                parsed = parse_partition(root.relative(info.path))
                if parsed is None or not info.base_name.endswith(".parquet"):
                    continue
                name = parsed[1].type if area == "refined" else f"raw_{parsed[1].type}"
                self.files[name].append(info)
        for info in root.files(DeadLetter.TYPE):
            if info.base_name.endswith(".parquet"):
                self.files[DeadLetter.TYPE].append(info)
        for name, infos in sorted(self.files.items()):
            self.connection.register(name, self._dataset(name, infos))

    def _dataset(self, name: str, infos: list[Any]) -> ds.Dataset:
        if name == DeadLetter.TYPE:
            area, schema, fields = name, arrow_schema(DeadLetter), [_SOURCE, _PROVIDER, *_DAY]
        elif name.startswith("raw_"):
            area, fields = "raw", [_SOURCE, *_PARTITIONS]
            schema = arrow_schema(record_class(name.removeprefix("raw_")))
        else:
            area, schema, fields = "refined", arrow_schema(record_class(name)), _PARTITIONS
        partitioning = ds.partitioning(pa.schema(fields), flavor="hive")
        for extra in fields:
            if extra.name not in schema.names:
                schema = schema.append(extra)
        return ds.dataset(
            [info.path for info in infos],
            schema=schema,
            format=_VERIFIED_PARQUET,
            filesystem=self.root.filesystem,
            partitioning=partitioning,
            partition_base_dir=self.root.join(area),
        )

    @property
    def views(self) -> list[str]:
        """Return the view names, sorted."""
        return sorted(self.files)

    def read_sql(self, query: str) -> pa.Table:
        """Run ``query`` and return the result as an Arrow table.

        Raises :class:`~quoteflow.errors.QueryError` for an empty statement, an
        unknown view, a syntax error or any other failure of the query.
        """
        reader = self.scan_sql(query)
        with self._translated():
            return reader.read_all()

    def scan_sql(self, query: str, batch_rows: int = 65_536) -> pa.RecordBatchReader:
        """Run ``query`` and return its result as a stream of Arrow batches.

        Only the batches being read are in memory, so results of any size can be
        written out. Of several statements, the earlier ones are run first and the
        last one's result is returned. Raises :class:`~quoteflow.errors.QueryError`.
        """
        with self._translated():
            statements = duckdb.extract_statements(query)
            if not statements:
                raise QueryError("the statement is empty (or only comments)")
            for statement in statements[:-1]:
                self.connection.execute(statement)
            relation = self.connection.sql(statements[-1].query)
            if relation is None:
                return pa.RecordBatchReader.from_batches(pa.schema([]), [])
            return relation.to_arrow_reader(batch_rows)

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        """Raise DuckDB's errors (and Arrow's, reading results) as :class:`QueryError`."""
        try:
            yield
        except duckdb.CatalogException as error:
            views = ", ".join(self.views) or "none: the lake holds no data yet"
            raise QueryError(f"{_first_line(error)} (views in this lake: {views})") from error
        except (duckdb.Error, pa.ArrowException) as error:
            raise QueryError(str(error)) from error

    def schema(self, view: str) -> pa.Schema:
        """Return the columns of ``view``; raises QueryError for an unknown view."""
        if view not in self.files:
            views = ", ".join(self.views) or "none"
            raise QueryError(f"no view {view!r} (views in this lake: {views})")
        with self._translated():
            return self.connection.sql(f'SELECT * FROM "{view}" LIMIT 0').to_arrow_table().schema

    def pandas(self, query: str) -> Any:
        """Run ``query`` and return a pandas DataFrame."""
        return self.read_sql(query).to_pandas()

    def polars(self, query: str) -> Any:
        """Run ``query`` and return a polars DataFrame (needs ``polars`` installed)."""
        import polars

        return polars.from_arrow(self.read_sql(query))

    def read_bars(
        self,
        instrument: str,
        period: str,
        *,
        start_ns: int | None = None,
        end_ns: int | None = None,
        limit: int = 10_000,
    ) -> pa.Table:
        """Return the bars of ``instrument`` and ``period`` starting in [start, end), oldest first.

        Refined days are preferred; days not yet coalesced come from the raw
        chunks (primary before replica), each bar once.
        """
        kind = lake_type(f"bars.{period}")
        columns = ", ".join(f'"{name}"' for name in arrow_schema(Bar).names)
        sources = [
            f"SELECT {columns}, {rank} AS rank_ FROM {view}"
            for view, rank in ((kind, "0"), (f"raw_{kind}", "CASE source WHEN 'primary' THEN 1 "
                                                            "ELSE 2 END"))
            if view in self.files
        ]  # fmt: skip
        if not sources:
            return arrow_schema(Bar).empty_table()
        query = (
            f"SELECT DISTINCT ON (ts_event) {columns} FROM ({' UNION ALL '.join(sources)}) "
            "WHERE instrument = $instrument AND epoch_ns(ts_event) >= $start "
            "AND epoch_ns(ts_event) < $end ORDER BY ts_event, rank_ LIMIT $limit"
        )
        params = {"instrument": instrument, "start": start_ns or 0,
                  "end": end_ns or 2**63 - 1, "limit": limit}  # fmt: skip
        with self._translated():
            return self.connection.sql(query, params=params).to_arrow_table()

    def write_records(
        self, records: Sequence[Event | DeadLetter] | pa.RecordBatch, *, source: str = "primary"
    ) -> None:
        """Add records (of any types, or one Arrow batch) as raw chunks of ``source``.

        They are durable when this returns, and the views show them at once.
        """
        writer = LakeWriter(self.root, source)
        try:
            if isinstance(records, pa.RecordBatch):
                writer.add_batch(records)
            else:
                writer.add(records)
        finally:
            writer.close()
        self._register()

    def summary(self) -> list[dict[str, Any]]:
        """Return per view and day (year for daily bars): instruments, files, rows and bytes."""
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        for name, infos in sorted(self.files.items()):
            for info in infos:
                partition = parse_partition(self.root.relative(info.path))[1]  # type: ignore[index]
                refined = name != DeadLetter.TYPE and not name.startswith("raw_")
                key = (name, refined_span(partition) if refined else partition.day.isoformat())
                row = rows.setdefault(
                    key, {"view": name, "day": key[1], "instruments": set(), "files": 0,
                          "rows": 0, "bytes": 0},
                )  # fmt: skip
                if partition.instrument:
                    row["instruments"].add(partition.instrument)
                row["files"] += 1
                row["bytes"] += info.size
                row["rows"] += _row_count(self.root, info.path)
        return [{**row, "instruments": len(row["instruments"])} for _, row in sorted(rows.items())]


def _first_line(error: Exception) -> str:
    """Return the first line of a DuckDB error, without its hints at DuckDB's own tables."""
    return str(error).splitlines()[0]


def _row_count(root: LakeRoot, path: str) -> int:
    """Return the rows of a Parquet file from its footer (0 if it cannot be read)."""
    try:
        with root.filesystem.open_input_file(path) as handle:
            return pq.ParquetFile(handle).metadata.num_rows
    except (OSError, pa.ArrowException):
        return 0
