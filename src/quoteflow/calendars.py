"""Exchange calendars (sessions, holidays, early closes) from ``exchange_calendars``."""

from __future__ import annotations

import warnings
from datetime import date
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["FIRST_DAY", "calendar_by_name", "session_bounds", "sessions"]

FIRST_DAY = date(1990, 1, 1)
"""Calendars cover every session from here on (or from their own first day, if later)."""


@cache
def calendar_by_name(name: str) -> Any:
    """Return the ``exchange_calendars`` calendar called ``name`` (``"XNYS"``, ...), cached.

    It covers every session from :data:`FIRST_DAY` (or the calendar's own first
    day) to a year from now; ``exchange_calendars`` on its own starts only 20
    years back from today. Raises ``ValueError`` for an unknown name.
    """
    import exchange_calendars

    # exchange_calendars reads Series.values, which pandas 3.1 deprecates; nothing to act on here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            try:
                return exchange_calendars.get_calendar(name, start=pd.Timestamp(FIRST_DAY))
            except ValueError:  # the calendar begins later than FIRST_DAY: from its own start
                first = type(exchange_calendars.get_calendar(name)).bound_min()
                return exchange_calendars.get_calendar(name, start=first)
        except exchange_calendars.errors.InvalidCalendarName as exc:
            raise ValueError(f"unknown exchange calendar {name!r}") from exc


def sessions(calendar: str, first: date, count: int) -> list[tuple[int, int]]:
    """Return ``count`` sessions from ``first`` on as (open, close) in ns since the epoch."""
    cal = calendar_by_name(calendar)
    start = cal.date_to_session(pd.Timestamp(first), direction="next")
    schedule = cal.schedule.loc[start:].iloc[:count]
    return [
        (int(row.open.value), int(row.close.value))
        for row in schedule[["open", "close"]].itertuples()
    ]


@cache
def session_bounds(calendar: str) -> tuple[np.ndarray, np.ndarray]:
    """Return every session's open and close of ``calendar`` as sorted int64 ns arrays."""
    schedule = calendar_by_name(calendar).schedule
    opens = np.array(schedule["open"].array.as_unit("ns").asi8)
    closes = np.array(schedule["close"].array.as_unit("ns").asi8)
    opens.flags.writeable = closes.flags.writeable = False
    return opens, closes
