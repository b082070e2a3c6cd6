"""Timestamp parsing and conversion; every result is integer nanoseconds since the epoch, UTC.

RFC 3339 strings are accepted in one strict form, the one market-data APIs send:
``YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|±HH:MM)``. The single-value and the vectorised
parser accept exactly the same strings and give exactly the same numbers.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["MAX_TS_MS", "now_ns", "parse_rfc3339_ns", "parse_rfc3339_ns_many"]

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000
MAX_TS_MS = 9_223_372_036_853
"""The largest millisecond timestamp whose nanosecond value fits in int64 (year 2262)."""

_RFC3339 = r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$"
_RFC3339_RE = re.compile(_RFC3339)
_ARROW_NS = pa.timestamp("ns", tz="UTC")
_MAX_NS = 2**63 - 1


def now_ns() -> int:
    """Return the current wall-clock time in nanoseconds since the epoch."""
    return time.time_ns()


def parse_rfc3339_ns(text: str) -> int:
    """Parse one RFC 3339 timestamp to nanoseconds since the epoch, keeping every digit.

    Raises ``ValueError`` naming the text when it is not a valid timestamp.

    >>> parse_rfc3339_ns("2021-02-22T15:51:44.208059788Z")
    1614009104208059788
    """
    match = _RFC3339_RE.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
    except ValueError as exc:
        raise ValueError(f"not a valid date and time: {text!r}") from exc
    seconds = calendar.timegm(moment.timetuple())
    if offset != "Z":
        sign = 1 if offset[0] == "+" else -1
        seconds -= sign * (int(offset[1:3]) * 3600 + int(offset[4:6]) * 60)
    nanos = seconds * NS_PER_S + (int(fraction.ljust(9, "0")) if fraction else 0)
    if not 0 <= nanos <= _MAX_NS:
        raise ValueError(f"timestamp outside 1970..2262: {text!r}")
    return nanos


def parse_rfc3339_ns_many(texts: Sequence[str]) -> np.ndarray:
    """Parse many RFC 3339 timestamps at once into an int64 array of nanoseconds.

    Vectorised through Arrow; accepts exactly what :func:`parse_rfc3339_ns` accepts.
    Raises ``ValueError`` when any text is invalid; call :func:`parse_rfc3339_ns`
    on each to find which.
    """
    array = pa.array(texts, type=pa.string())
    if array.null_count or not pc.all(pc.match_substring_regex(array, _RFC3339)).as_py():
        raise ValueError("a timestamp is not in RFC 3339 form")
    try:
        parsed = array.cast(_ARROW_NS)
    except pa.ArrowInvalid as exc:
        raise ValueError(f"a timestamp is not a valid date and time: {exc}") from exc
    nanos = parsed.cast(pa.int64()).to_numpy()
    if len(nanos) and nanos.min() < 0:
        raise ValueError("a timestamp is before 1970")
    return nanos
