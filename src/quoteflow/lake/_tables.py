"""Arrow table helpers shared by the lake writer and coalescing."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

__all__ = ["take_rows"]


def take_rows(table: pa.Table, rows: np.ndarray) -> pa.Table:
    """Return ``table``'s ``rows`` in that order, as contiguous columns.

    Columns that hold only nulls (most of a quote's optional fields, for most
    providers) are made afresh instead of gathered, which halves the time here.
    """
    indices = pa.array(rows)
    columns = []
    for column in table.columns:
        if column.null_count == len(column):
            columns.append(pa.nulls(len(rows), column.type))
        else:
            columns.append(pa.concat_arrays(column.chunks).take(indices))
    return pa.table(columns, schema=table.schema)
