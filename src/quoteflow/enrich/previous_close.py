"""Previous business day's closing prices, from daily bars, with the exchange calendar.

The previous close of an event is the close of the last session strictly before
the event's date in the exchange's time zone: on Monday that is Friday (or
Thursday when Friday was a holiday), on a Saturday it is Friday.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from quoteflow.calendars import calendar_by_name
from quoteflow.errors import RecordFileError
from quoteflow.events import Bar
from quoteflow.formats.records import read_records

__all__ = ["PreviousCloses"]

_NS_PER_HOUR = 3_600_000_000_000
_INSTRUMENT_COLUMNS = ("instrument", "ticker", "symbol")


class PreviousCloses:
    """Look up the previous session's close of an instrument for an event time.

    ``closes`` maps instrument -> session date -> close.
    """

    def __init__(self, closes: Mapping[str, Mapping[date, float]], calendar: str = "XNYS") -> None:
        self._closes = {name: dict(days) for name, days in closes.items()}
        self._calendar = calendar_by_name(calendar)
        self._previous_by_hour: dict[int, date] = {}

    @classmethod
    def from_bars(cls, bars: Iterable[Bar], calendar: str = "XNYS") -> PreviousCloses:
        """Build from daily bars; a bar's session is its start date in the exchange's zone."""
        tz = calendar_by_name(calendar).tz
        closes: dict[str, dict[date, float]] = {}
        for bar in bars:
            day = pd.Timestamp(bar.ts_event, unit="ns", tz="UTC").tz_convert(tz).date()
            closes.setdefault(bar.instrument, {})[day] = bar.close
        return cls(closes, calendar)

    @classmethod
    def read(cls, path: str | Path, calendar: str = "XNYS") -> PreviousCloses:
        """Read daily bars: a record file, or an OHLCV CSV with instrument and close.

        The CSV's instrument column may be called instrument, ticker or symbol
        (any case), as in ``bokeh_sampledata``'s ``stocks.csv.gz``. A lake's
        daily bars are read by :func:`quoteflow.app.sources.previous_closes`.
        """
        path = Path(path)
        if path.name.lower().endswith(".parquet"):
            return cls.from_bars((r for r in read_records(path) if isinstance(r, Bar)), calendar)
        try:
            table = pacsv.read_csv(path)
        except (OSError, pa.ArrowInvalid) as exc:
            raise RecordFileError(f"{path}: {exc}") from exc
        names = {name.lower(): name for name in table.column_names}
        if "ts_event" in names:
            return cls.from_bars((r for r in read_records(path) if isinstance(r, Bar)), calendar)
        instrument = next((names[c] for c in _INSTRUMENT_COLUMNS if c in names), None)
        if instrument is None or "date" not in names or "close" not in names:
            raise RecordFileError(f"{path}: needs instrument (or ticker/symbol), date and close")
        closes: dict[str, dict[date, float]] = {}
        for name, day, close in zip(
            table.column(instrument).to_pylist(),
            table.column(names["date"]).cast(pa.date32()).to_pylist(),
            table.column(names["close"]).cast(pa.float64()).to_pylist(),
            strict=True,
        ):
            closes.setdefault(str(name), {})[day] = close
        return cls(closes, calendar)

    def previous_session(self, ts_ns: int) -> date:
        """Return the last session strictly before the exchange-local date of ``ts_ns``."""
        hour = ts_ns // _NS_PER_HOUR
        session = self._previous_by_hour.get(hour)
        if session is None:
            cal = self._calendar
            local = pd.Timestamp(ts_ns, unit="ns", tz="UTC").tz_convert(cal.tz).date()
            day = pd.Timestamp(local)
            if cal.is_session(day):
                previous = cal.previous_session(day)
            else:
                previous = cal.date_to_session(day, direction="previous")
            session = self._previous_by_hour[hour] = previous.date()
        return session

    def daily_closes(self, instrument: str) -> Mapping[date, float]:
        """Return the known closes of ``instrument`` by session date (empty if none)."""
        return self._closes.get(instrument) or {}

    def lookup(self, instrument: str, ts_ns: int) -> tuple[float | None, str | None]:
        """Return (previous close, None), or (None, the reason it is unknown)."""
        days = self._closes.get(instrument)
        if not days:
            return None, "no daily closes for the instrument"
        session = self.previous_session(ts_ns)
        close = days.get(session)
        if close is None:
            return None, f"no close for {session.isoformat()}"
        return close, None
