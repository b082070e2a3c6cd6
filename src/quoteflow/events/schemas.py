"""The Arrow form of records: one schema per record type, and conversions both ways.

Hot paths work on Arrow batches; :func:`to_batch` and :func:`from_batch` convert
a list of records of one type to a :class:`pyarrow.RecordBatch` and back::

    >>> from quoteflow.events import Quote
    >>> q = Quote("ALPACA", "AAPL", 1, 2, bid_price=189.5, ask_price=189.52)
    >>> from_batch(to_batch([q])) == [q]
    True

A batch's schema names its record type in its metadata, so a batch read from a
file or a Kafka message knows what it holds (:func:`batch_type`).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from functools import cache
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa

from quoteflow.events.market import DeadLetter, Event
from quoteflow.events.registry import EVENT_TYPES

__all__ = ["Interleaved", "arrow_schema", "batch_type", "conform", "from_batch", "to_batch"]

_TYPE_METADATA_KEY = b"quoteflow.type"


def _is_timestamp(name: str) -> bool:
    return name.startswith("ts_") or name.endswith("_at")


def _arrow_type(name: str, annotation: Any) -> tuple[pa.DataType, bool]:
    """Map a field annotation to (Arrow type, nullable)."""
    nullable = False
    if isinstance(annotation, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable = len(members) < len(typing.get_args(annotation))
        (annotation,) = members
    if typing.get_origin(annotation) is tuple:
        return pa.list_(pa.string()), nullable
    if typing.get_origin(annotation) is dict:
        return pa.map_(pa.string(), pa.float64()), nullable
    if annotation is int:
        return (pa.timestamp("ns", tz="UTC") if _is_timestamp(name) else pa.int64()), nullable
    simple = {float: pa.float64(), str: pa.string(), bool: pa.bool_()}
    return simple[annotation], nullable


@cache
def arrow_schema(cls: type[Event] | type[DeadLetter]) -> pa.Schema:
    """Return the Arrow schema of a record class; timestamps become ``timestamp[ns, UTC]``."""
    hints = typing.get_type_hints(cls)
    fields = []
    for name in cls.__struct_fields__:
        arrow_type, nullable = _arrow_type(name, hints[name])
        fields.append(pa.field(name, arrow_type, nullable=nullable))
    return pa.schema(fields, metadata={_TYPE_METADATA_KEY: cls.TYPE.encode()})


def to_batch(records: Sequence[Event], cls: type[Event] | None = None) -> pa.RecordBatch:
    """Convert records of one type to an Arrow record batch.

    ``cls`` is needed only for an empty ``records``. Raises ``TypeError`` when the
    records are of mixed types.
    """
    if cls is None:
        if not records:
            raise TypeError("to_batch needs cls for an empty list of records")
        cls = type(records[0])
    if any(type(r) is not cls for r in records):
        raise TypeError(f"to_batch takes records of one type; expected only {cls.__name__}")
    rows = pa.array(list(map(msgspec.structs.astuple, records)), type=_row_type(cls))
    return pa.RecordBatch.from_struct_array(rows).replace_schema_metadata(
        arrow_schema(cls).metadata
    )


def conform(batch: pa.RecordBatch, cls: type[Event]) -> pa.RecordBatch:
    """Return ``batch`` with the exact schema of ``cls`` (columns cast where types differ).

    Batches read from files may differ from :func:`arrow_schema` in details (a
    timestamp's time zone, nullability, metadata); batches that match come back as they are.
    """
    schema = arrow_schema(cls)
    if batch.schema.equals(schema, check_metadata=True):
        return batch
    columns = [batch.column(f.name).cast(f.type) for f in schema]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


@cache
def _row_type(cls: type[Event]) -> pa.StructType:
    """Return the schema as one struct type, which Arrow fills from tuples in C++."""
    return pa.struct(list(arrow_schema(cls)))


def batch_type(schema: pa.Schema) -> type[Event] | None:
    """Return the record class a schema was written from, or None if it carries no type."""
    name = (schema.metadata or {}).get(_TYPE_METADATA_KEY)
    return EVENT_TYPES.get(name.decode()) if name else None


def from_batch(batch: pa.RecordBatch | pa.Table, cls: type[Event] | None = None) -> list[Event]:
    """Convert an Arrow batch or table back to records.

    The record type comes from the schema metadata written by :func:`to_batch`,
    or from ``cls``. Columns are matched by name; extra columns are ignored.
    """
    cls = cls or batch_type(batch.schema)
    if cls is None:
        raise TypeError("from_batch needs cls: the batch schema does not name a record type")
    columns = []
    for field in arrow_schema(cls):
        column = batch.column(field.name)
        if pa.types.is_timestamp(column.type):
            column = column.cast(pa.int64())
        values = column.to_pylist()
        if pa.types.is_list(field.type):
            values = [None if v is None else tuple(v) for v in values]
        elif pa.types.is_map(field.type):
            values = [None if v is None else dict(v) for v in values]
        columns.append(values)
    return [cls(*row) for row in zip(*columns, strict=True)]


class Interleaved(msgspec.Struct, frozen=True, gc=False):
    """Arrow batches whose records form one stream: ``order[i]`` is the batch of record ``i``.

    Each batch holds records of one type, in the stream's order; a stream of
    quotes and trades as it arrived is two batches and the order between them.
    """

    batches: tuple[pa.RecordBatch, ...]
    order: Any  # numpy int8 array, one entry per record of all batches

    @property
    def num_rows(self) -> int:
        """Return the number of records."""
        return len(self.order)

    def records(self) -> list[Event]:
        """Return the records in the stream's order."""
        per_batch = [iter(from_batch(batch)) for batch in self.batches]
        return [next(per_batch[index]) for index in self.order.tolist()]

    def slice(self, start: int, stop: int) -> Interleaved:
        """Return records ``start`` to ``stop`` (excluded) of the stream."""
        order = self.order[start:stop]
        batches = []
        for index, batch in enumerate(self.batches):
            before = int(np.count_nonzero(self.order[:start] == index))
            batches.append(batch.slice(before, int(np.count_nonzero(order == index))))
        return Interleaved(tuple(batches), order)
