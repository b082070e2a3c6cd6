"""Files of records: Parquet (zstd) and CSV (optionally gzipped), one record type per file.

Columns are the record's own field names; timestamps are ``timestamp[ns, UTC]``
in Parquet and ISO 8601 text in CSV; list fields (conditions, instruments) are
JSON arrays in CSV. The record type is stored in the Parquet schema metadata;
for CSV, and for Parquet written elsewhere, it is found from the column names.

>>> from quoteflow.events import Trade
>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "trades.parquet"
>>> write_records(path, [Trade("X", "AAPL", 1, 2, price=1.5, size=10.0)])
>>> read_records(path)[0].price
1.5
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from quoteflow.errors import RecordFileError
from quoteflow.events import (
    EVENT_TYPES,
    Event,
    arrow_schema,
    batch_type,
    conform,
    from_batch,
    to_batch,
)

__all__ = [
    "BatchFileWriter",
    "count_records",
    "nested_as_json",
    "parquet_options",
    "read_batches",
    "read_records",
    "write_records",
]

_CSV_SUFFIXES = (".csv", ".csv.gz")
_READ_BUFFER = 1 << 20  # read Parquet column chunks through a 1 MiB buffer, not whole


def _format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith(_CSV_SUFFIXES):
        return "csv"
    raise RecordFileError(f"{path}: unknown file type; use .parquet, .csv or .csv.gz")


def parquet_options(schema: pa.Schema) -> dict[str, object]:
    """Return the ``pyarrow.parquet`` writer options every record file is written with.

    zstd; timestamps delta-encoded (sorted nanoseconds shrink to their gaps),
    everything else dictionary-encoded where it pays (pyarrow falls back to
    plain per column chunk when it does not): dictionary-encoding unique
    timestamps costs much and saves nothing.
    """
    timestamps = [f.name for f in schema if pa.types.is_timestamp(f.type)]
    return {
        "compression": "zstd",
        "use_dictionary": [name for name in schema.names if name not in timestamps],
        "column_encoding": dict.fromkeys(timestamps, "DELTA_BINARY_PACKED"),
    }


def nested_as_json(table: pa.Table) -> pa.Table:
    """Replace list, map and struct columns by their JSON text, for CSV, which has none.

    Maps become JSON objects; nulls stay null.
    """
    for index, field in enumerate(table.schema):
        if pa.types.is_nested(field.type):
            values = table.column(index).to_pylist(maps_as_pydicts="strict")
            text = [None if v is None else json.dumps(v, default=str) for v in values]
            table = table.set_column(index, field.name, pa.array(text, pa.string()))
    return table


def count_records(path: str | Path) -> int | None:
    """Return how many records a Parquet file holds, from its footer; None for CSV."""
    path = Path(path)
    if _format(path) != "parquet":
        return None
    try:
        return pq.ParquetFile(path).metadata.num_rows
    except (OSError, pa.ArrowException) as error:
        raise RecordFileError(f"{path}: cannot be read: {error}") from error


def write_records(path: str | Path, records: Sequence[Event]) -> None:
    """Write records of one type to ``path``; the suffix picks the format.

    Replaces the file if it exists. Raises :class:`RecordFileError` for an
    unknown suffix and ``TypeError`` for mixed record types or no records.
    """
    with BatchFileWriter(path) as writer:
        writer.write(to_batch(records))


class BatchFileWriter:
    """Write Arrow batches of one record type to ``path`` as they come; the suffix picks the format.

    The file is made at the first batch (replacing one that exists) and
    completed on :meth:`close`; memory holds one batch, whatever the file's size.
    Raises :class:`RecordFileError` for an unknown suffix.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.format = _format(self.path)
        self.rows = 0
        self._sink: Any = None
        self._writer: Any = None

    def write(self, batch: pa.RecordBatch) -> None:
        """Append ``batch``."""
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.format == "parquet":
                self._writer = pq.ParquetWriter(self.path, batch.schema,
                                                **parquet_options(batch.schema))  # fmt: skip
            else:
                codec = "gzip" if self.path.name.endswith(".gz") else None
                self._sink = pa.CompressedOutputStream(self.path, codec) if codec else (
                    pa.OSFile(str(self.path), "wb"))  # fmt: skip
                schema = nested_as_json(batch.schema.empty_table()).schema
                self._writer = pacsv.CSVWriter(self._sink, schema)
        if self.format == "parquet":
            self._writer.write_batch(batch)
        else:
            self._writer.write_table(nested_as_json(pa.Table.from_batches([batch])))
        self.rows += batch.num_rows

    def close(self) -> None:
        """Complete the file."""
        if self._writer is not None:
            self._writer.close()
        if self._sink is not None:
            self._sink.close()

    def __enter__(self) -> BatchFileWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _type_from_columns(path: Path, columns: Sequence[str]) -> type[Event]:
    present = set(columns)
    for cls in EVENT_TYPES.values():
        required = {f.name for f in arrow_schema(cls) if not f.nullable}
        if required <= present <= set(arrow_schema(cls).names):
            return cls
    raise RecordFileError(f"{path}: the columns {sorted(present)} match no record type")


def _read_csv(path: Path) -> pa.Table:
    try:
        with pacsv.open_csv(path) as reader:
            header = reader.schema
        cls = _type_from_columns(path, header.names)
        schema = arrow_schema(cls)
        types = {
            f.name: (pa.string() if pa.types.is_list(f.type) else f.type)
            for f in schema
            if f.name in header.names
        }
        options = pacsv.ConvertOptions(
            column_types=types, strings_can_be_null=True, quoted_strings_can_be_null=False
        )
        table = pacsv.read_csv(path, convert_options=options)
    except pa.ArrowInvalid as exc:
        raise RecordFileError(f"{path}: {exc}") from exc
    for index, field in enumerate(table.schema):
        if schema.field(field.name).type != field.type:
            values = [None if v is None else json.loads(v) for v in table.column(index).to_pylist()]
            table = table.set_column(
                index, field.name, pa.array(values, schema.field(field.name).type)
            )
    return table.replace_schema_metadata(schema.metadata)


def _complete(path: Path, table: pa.Table) -> pa.Table:
    """Add missing nullable columns as nulls so the table has the whole schema."""
    cls = batch_type(table.schema) or _type_from_columns(path, table.column_names)
    schema = arrow_schema(cls)
    columns = [
        table.column(f.name) if f.name in table.column_names else pa.nulls(len(table), f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def read_records(path: str | Path) -> list[Event]:
    """Read a file written by :func:`write_records` (or with the same columns).

    Raises :class:`RecordFileError` when the file is missing, unreadable, or its
    columns match no record type.
    """
    path = Path(path)
    if not path.is_file():
        raise RecordFileError(f"{path}: no such file")
    if _format(path) == "parquet":
        try:
            table = pq.read_table(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise RecordFileError(f"{path}: {exc}") from exc
    else:
        table = _read_csv(path)
    table = _complete(path, table)
    for field in table.schema:
        if not field.nullable and table.column(field.name).null_count:
            raise RecordFileError(f"{path}: column {field.name} has empty values")
    try:
        return from_batch(table)
    except (TypeError, ValueError) as exc:
        raise RecordFileError(f"{path}: {exc}") from exc


def read_batches(path: str | Path, batch_size: int = 65_536) -> Iterator[pa.RecordBatch]:
    """Yield a file's records as Arrow batches of the record type's schema, in file order.

    Parquet is read a batch at a time, so memory follows ``batch_size``, not the
    file; CSV is read whole. Raises :class:`RecordFileError` as :func:`read_records`.
    """
    path = Path(path)
    if not path.is_file():
        raise RecordFileError(f"{path}: no such file")
    try:
        if _format(path) == "parquet":
            source = pq.ParquetFile(path, pre_buffer=False, buffer_size=_READ_BUFFER)
            cls = batch_type(source.schema_arrow) or _type_from_columns(
                path, source.schema_arrow.names
            )
            batches = source.iter_batches(batch_size)
        else:
            table = _read_csv(path)
            cls = batch_type(table.schema) or _type_from_columns(path, table.column_names)
            batches = iter(table.to_batches(batch_size))
        for batch in batches:
            if batch.num_rows:
                yield _checked(path, cls, pa.Table.from_batches([batch]))
    except (pa.ArrowInvalid, OSError) as exc:
        raise RecordFileError(f"{path}: {exc}") from exc


def _checked(path: Path, cls: type[Event], table: pa.Table) -> pa.RecordBatch:
    """Return the rows as one batch of ``cls``'s schema; refuse nulls in required columns."""
    table = _complete(path, table.replace_schema_metadata(arrow_schema(cls).metadata))
    for field in table.schema:
        if not field.nullable and table.column(field.name).null_count:
            raise RecordFileError(f"{path}: column {field.name} has empty values")
    return conform(table.combine_chunks().to_batches()[0], cls)
