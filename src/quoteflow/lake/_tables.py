"""Arrow table helpers shared by the lake writer and coalescing."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

__all__ = ["one_string", "take_rows"]


def one_string(column: pa.Array | pa.ChunkedArray) -> str | None:
    """Return the string every row of ``column`` holds, or None if it is not such a column.

    A lake file holds one provider and one instrument, so those columns repeat
    a single string; knowing that saves gathering, hashing and encoding them.
    """
    if not pa.types.is_string(column.type) or not len(column) or column.null_count:
        return None
    first = column[0].as_py()
    if column[len(column) - 1].as_py() != first:
        return None
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    value = first.encode()
    return first if all(_repeats(chunk, value) for chunk in chunks) else None


def _repeats(chunk: pa.StringArray, value: bytes) -> bool:
    """Return whether every row of ``chunk`` (which has no nulls) is ``value``.

    Every length must be the value's; then the characters repeat the value when
    they equal themselves shifted by its length and start with it.
    """
    _, offsets, data = chunk.buffers()
    ends = np.frombuffer(offsets, dtype=np.int32)[chunk.offset : chunk.offset + len(chunk) + 1]
    if not (np.diff(ends) == len(value)).all():
        return False
    if not value or not len(chunk):
        return True
    chars = data.slice(int(ends[0]), int(ends[-1] - ends[0]))
    return chars.slice(0, len(value)).equals(pa.py_buffer(value)) and chars.slice(
        len(value)
    ).equals(chars.slice(0, chars.size - len(value)))


def take_rows(table: pa.Table, rows: np.ndarray) -> pa.Table:
    """Return ``table``'s ``rows`` in that order, as contiguous columns.

    Columns that hold only nulls (most of a quote's optional fields, for most
    providers) or one string are made afresh instead of gathered, which halves
    the time here; the null columns of one type share one array.
    """
    indices = pa.array(rows)
    nulls: dict[pa.DataType, pa.Array] = {}
    columns = []
    for column in table.columns:
        if column.null_count == len(column):
            if column.type not in nulls:
                nulls[column.type] = pa.nulls(len(rows), column.type)
            columns.append(nulls[column.type])
        elif (value := one_string(column)) is not None:
            columns.append(pa.repeat(value, len(rows)))
        else:
            columns.append(pa.concat_arrays(column.chunks).take(indices))
    return pa.table(columns, schema=table.schema)
