"""Importing end-of-day history from CSV into the refined files of daily bars.

Refined daily bars are kept one file per instrument-year
(:func:`~quoteflow.lake.layout.is_yearly`). Importing into a year that already
has a file merges with it: a bar of the same session replaces the stored one,
the others are kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from quoteflow.calendars import calendar_by_name, session_bounds
from quoteflow.errors import RecordFileError
from quoteflow.events import Bar, arrow_schema
from quoteflow.lake.coalesce import SOURCES_KEY, daily_files_of_year, read_chunk, refined_sources
from quoteflow.lake.layout import (
    NS_PER_DAY,
    Partition,
    is_yearly,
    refined_partition,
    refined_path,
    utc_day,
)
from quoteflow.lake.writer import chunk_bytes
from quoteflow.storage import LakeRoot

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
    """Write one refined file per instrument-year from an OHLCV CSV (``.csv`` or ``.csv.gz``).

    The instrument is a column (``instrument_column``) or one name for the whole
    file (``instrument``). Column names are matched without regard to case;
    ``volume`` may be missing. A bar's ``ts_event`` is its session's open on
    ``calendar`` (local midnight for dates without a session); ``ts_recv``
    equals it. ``kind`` must be a type of daily bars (``bars_1d``).
    ``progress(done, total)`` is called after every file.
    """
    path = Path(path)
    if (instrument_column is None) == (instrument is None):
        raise ValueError("give exactly one of instrument_column and instrument")
    if not is_yearly(kind):
        raise ValueError(f"type {kind!r} is not one of daily bars (bars_1d)")
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
    years = [utc_day(int(t)).year for t in ts]
    starts = [row for row in range(bars.num_rows)
              if row == 0 or (instruments_sorted[row], years[row])
              != (instruments_sorted[row - 1], years[row - 1])]  # fmt: skip
    bounds = [*starts, bars.num_rows]
    for done, (start, end) in enumerate(pairwise(bounds), 1):
        day = utc_day(int(ts[start]))
        partition = refined_partition(Partition(provider, kind, instruments_sorted[start], day))
        _merge_into(root, partition, bars.slice(start, end - start))
        if progress is not None:
            progress(done, len(starts))
    return ImportReport(len(set(instruments_sorted)), len(starts), bars.num_rows)


def _merge_into(root: LakeRoot, partition: Partition, bars: pa.Table) -> None:
    """Write ``bars`` into ``partition``'s refined file; stored bars of other sessions stay."""
    target = root.join(refined_path(partition))
    daily = daily_files_of_year(root, partition)
    stored, metadata = [], {}
    for path in ([target] if root.exists(target) else []) + daily:
        try:
            stored.append(read_chunk(root, path, bars.schema))
            listed = refined_sources(root, path) if path == target else None
            if listed is not None:
                metadata[SOURCES_KEY] = msgspec.json.encode(sorted(listed))
        except (OSError, ValueError) as exc:
            raise RecordFileError(f"{root.relative(path)} cannot be read ({exc}): restore it, "
                                  "or delete it to import its year afresh") from exc  # fmt: skip
    if stored:
        kept = pa.concat_tables(stored)
        replaced = pc.is_in(kept.column("ts_event"), value_set=bars.column("ts_event"))
        bars = pa.concat_tables([kept.filter(pc.invert(replaced)), bars])
        bars = bars.sort_by([("ts_event", "ascending")])
    root.write_atomic(target, chunk_bytes(bars, metadata))
    for path in daily:
        root.delete(path)
