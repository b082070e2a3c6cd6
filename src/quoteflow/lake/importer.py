"""Importing end-of-day history from CSV into refined daily bar files."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from quoteflow.calendars import calendar_by_name, session_bounds
from quoteflow.errors import RecordFileError
from quoteflow.events import Bar, arrow_schema
from quoteflow.lake.layout import NS_PER_DAY, Partition, refined_path, utc_day
from quoteflow.lake.storage import LakeRoot
from quoteflow.lake.writer import chunk_bytes

__all__ = ["ImportReport", "import_daily_bars"]


@dataclass
class ImportReport:
    """What an import wrote."""

    instruments: int
    files: int
    rows: int


def _column(names: dict[str, str], wanted: str, path: Path) -> str:
    try:
        return names[wanted.lower()]
    except KeyError:
        raise RecordFileError(f"{path}: no {wanted!r} column") from None


def _session_starts(dates: pa.Array, calendar: str) -> np.ndarray:
    """Return each date's session open (ns); for a date without a session, its local midnight."""
    opens, _ = session_bounds(calendar)
    tz = calendar_by_name(calendar).tz
    days = dates.cast(pa.int32()).to_numpy().astype(np.int64)
    open_days = pa.array(opens, pa.timestamp("ns", "UTC")).cast(pa.timestamp("ns", str(tz)))
    local = pc.cast(pc.local_timestamp(open_days), pa.int64()).to_numpy() // NS_PER_DAY
    found = np.searchsorted(local, days)
    found = np.minimum(found, len(local) - 1)
    midnight = (
        pc.assume_timezone(pa.array(days * NS_PER_DAY, pa.timestamp("ns")), str(tz))
        .cast(pa.int64())
        .to_numpy()
    )
    return np.where(local[found] == days, opens[found], midnight)


def import_daily_bars(
    root: LakeRoot,
    path: str | Path,
    *,
    provider: str,
    kind: str = "bars_1d",
    instrument_column: str | None = None,
    instrument: str | None = None,
    date_column: str = "date",
    calendar: str = "XNYS",
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Write one refined file per instrument-day from an OHLCV CSV (``.csv`` or ``.csv.gz``).

    The instrument is a column (``instrument_column``) or one name for the whole
    file (``instrument``). Column names are matched without regard to case;
    ``volume`` may be missing. A bar's ``ts_event`` is its session's open on
    ``calendar`` (local midnight for dates without a session); ``ts_recv``
    equals it. ``progress(done, total)`` is called after every file.
    """
    path = Path(path)
    if (instrument_column is None) == (instrument is None):
        raise ValueError("give exactly one of instrument_column and instrument")
    try:
        table = pacsv.read_csv(path)
    except (OSError, pa.ArrowException) as exc:
        raise RecordFileError(f"{path}: {exc}") from exc
    names = {name.lower(): name for name in table.column_names}
    date_name = _column(names, date_column, path)
    try:
        dates = table.column(date_name).cast(pa.date32())
    except pa.ArrowInvalid as exc:
        raise RecordFileError(f"{path}: column {date_name!r} holds a value that is not a date "
                              f"like 2024-04-01 ({exc})") from exc  # fmt: skip
    if instrument_column is not None:
        instruments = table.column(_column(names, instrument_column, path)).cast(pa.string())
    else:
        instruments = pa.array([instrument] * table.num_rows, pa.string())
    starts = _session_starts(dates.combine_chunks(), calendar)
    columns = {
        "provider": pa.array([provider] * table.num_rows, pa.string()),
        "instrument": instruments,
        "ts_event": pa.array(starts, pa.timestamp("ns", "UTC")),
        "ts_recv": pa.array(starts, pa.timestamp("ns", "UTC")),
        "period": pa.array(["1d"] * table.num_rows, pa.string()),
        "corrected": pa.array(np.zeros(table.num_rows, dtype=bool)),
        "final": pa.array(np.ones(table.num_rows, dtype=bool)),
    }
    for price in ("open", "high", "low", "close"):
        columns[price] = table.column(_column(names, price, path)).cast(pa.float64())
    volume = names.get("volume")
    columns["volume"] = (
        table.column(volume).cast(pa.float64()) if volume else pa.array(np.zeros(table.num_rows))
    )
    schema = arrow_schema(Bar)
    bars = pa.table(
        [columns.get(f.name, pa.nulls(table.num_rows, f.type)) for f in schema], schema=schema
    )
    if bars.column("close").null_count:
        raise RecordFileError(f"{path}: {bars.column('close').null_count} rows have no close")
    bars = bars.sort_by([("instrument", "ascending"), ("ts_event", "ascending")])
    instruments_sorted = bars.column("instrument").to_pylist()
    ts = bars.column("ts_event").cast(pa.int64()).to_numpy()
    for row in range(1, bars.num_rows):
        if instruments_sorted[row] == instruments_sorted[row - 1] and ts[row] == ts[row - 1]:
            day = utc_day(int(ts[row]))
            raise RecordFileError(f"{path}: two rows for {instruments_sorted[row]} on {day}")
    for row in range(bars.num_rows):
        partition = Partition(provider, kind, instruments_sorted[row], utc_day(int(ts[row])))
        root.write_atomic(root.join(refined_path(partition)), chunk_bytes(bars.slice(row, 1)))
        if progress is not None:
            progress(row + 1, bars.num_rows)
    total = bars.num_rows
    return ImportReport(len(set(instruments_sorted)), total, total)
