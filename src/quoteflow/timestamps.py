"""Timestamp parsing and conversion; every result is integer nanoseconds since the epoch, UTC.

RFC 3339 date-times are parsed by Arrow's ISO 8601 parser, vectorised, with
every fraction digit kept. Accepted: ``YYYY-MM-DD``, then ``T`` or a space
(RFC 3339 allows both), ``HH:MM:SS``, up to nine fraction digits, and a zone
(``Z``, ``±HH:MM``, ``±HHMM`` or ``±HH``); the zone is required. Impossible
dates and times (February 30, second 60) and times before 1970 are refused.

Two implementations, one contract: Arrow's parser, vectorised, for many values
(a fixed cost per call, then little per value), and a
pure-Python parser for the canonical form ``YYYY-MM-DDTHH:MM:SS[.f]Z`` that
caches whole seconds, for few values (live frames are small). Anything that
is not canonical goes to Arrow, so both accept exactly the same strings; a
property test checks that they give the same numbers.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa

__all__ = [
    "MAX_TS_MS",
    "NS_PER_MS",
    "datetime_ns",
    "iso_utc",
    "now_ns",
    "parse_rfc3339_ns",
    "parse_rfc3339_ns_many",
]

NS_PER_MS = 1_000_000
MAX_TS_MS = 9_223_372_036_853
"""The largest millisecond timestamp whose nanosecond value fits in int64 (year 2262)."""

_ARROW_NS = pa.timestamp("ns", tz="UTC")
_SECONDS_COLON = 16
"""Index of the ':' before the seconds in ``YYYY-MM-DDTHH:MM:SS``."""
_VECTOR_FROM = 32
"""From this many values on, one Arrow call beats the per-value Python parser."""
_WHOLE_SECONDS_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}")
_whole_seconds_cache: dict[str, int] = {}
_CACHE_LIMIT = 1 << 16
_MAX_SECONDS = (2**63 - 1) // 1_000_000_000 - 1


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def datetime_ns(moment: datetime) -> int:
    """Return ``moment`` in ns since the epoch, exactly; a naive time is taken as UTC.

    >>> datetime_ns(datetime(1969, 12, 31, 23, 59, 59, 500_000))
    -500000000
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICROSECOND * 1_000


def iso_utc(ts_ns: int) -> str:
    """Return ``ts_ns`` as RFC 3339 in UTC, exactly (the fraction only as long as needed).

    >>> iso_utc(1_700_000_000_250_000_000), iso_utc(0)
    ('2023-11-14T22:13:20.25Z', '1970-01-01T00:00:00Z')
    """
    seconds, fraction = divmod(ts_ns, 1_000_000_000)
    text = (_EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{fraction:09d}".rstrip("0") + "Z" if fraction else f"{text}Z"


def now_ns() -> int:
    """Return the current wall-clock time in nanoseconds since the epoch."""
    return time.time_ns()


def _parse_with_arrow(texts: Sequence[str]) -> np.ndarray:
    try:
        array = pa.array(texts, type=pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ValueError(f"timestamps must be strings: {exc}") from exc
    if array.null_count:
        raise ValueError("a timestamp is missing")
    # Arrow also takes "HH" or "HH:MM" without seconds; RFC 3339 does not.
    if any(text[_SECONDS_COLON : _SECONDS_COLON + 1] != ":" for text in texts):
        raise ValueError("a timestamp is not in YYYY-MM-DDTHH:MM:SS form")
    try:
        nanos = array.cast(_ARROW_NS).view(pa.int64()).to_numpy()
    except pa.ArrowInvalid as exc:
        raise ValueError(f"not a valid RFC 3339 timestamp: {exc}") from exc
    if len(nanos) and nanos.min() < 0:
        raise ValueError("a timestamp is before 1970")
    return nanos


def _whole_seconds(text: str) -> int | None:
    """Return the epoch seconds of ``YYYY-MM-DDTHH:MM:SS`` (cached), or None if it is not one."""
    if not _WHOLE_SECONDS_RE.fullmatch(text):
        return None
    try:
        moment = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None
    seconds = calendar.timegm(moment.timetuple())
    if not 0 <= seconds <= _MAX_SECONDS:
        return None
    if len(_whole_seconds_cache) >= _CACHE_LIMIT:
        _whole_seconds_cache.clear()
    _whole_seconds_cache[text] = seconds
    return seconds


def _parse_canonical(text: str) -> int | None:
    """Parse ``YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z``; None for any other text."""
    if text.__class__ is not str or len(text) < 20 or text[-1] != "Z" or not text.isascii():
        return None
    whole = text[:19]
    seconds = _whole_seconds_cache.get(whole)
    if seconds is None:
        seconds = _whole_seconds(whole)
        if seconds is None:
            return None
    if len(text) == 20:
        return seconds * 1_000_000_000
    fraction = text[20:-1]
    if text[19] != "." or len(fraction) > 9 or not fraction.isdigit():
        return None
    return seconds * 1_000_000_000 + int(fraction.ljust(9, "0"))


def parse_rfc3339_ns_many(texts: Sequence[str]) -> list[int]:
    """Parse RFC 3339 timestamps into nanoseconds since the epoch.

    Raises ``ValueError`` when any value is not a valid timestamp; call
    :func:`parse_rfc3339_ns` on each to find which.

    >>> parse_rfc3339_ns_many(["2021-02-22T15:51:44.208059788Z"])
    [1614009104208059788]
    """
    if len(texts) >= _VECTOR_FROM:
        return _parse_with_arrow(texts).tolist()
    nanos = [_parse_canonical(text) for text in texts]
    if None in nanos:
        return [parse_rfc3339_ns(text) for text in texts]
    return nanos


def parse_rfc3339_ns(text: str) -> int:
    """Parse one RFC 3339 timestamp to nanoseconds since the epoch, keeping every digit.

    Raises ``ValueError`` naming the text when it is not a valid timestamp.

    >>> parse_rfc3339_ns("2021-02-22T15:51:44.208059788Z")
    1614009104208059788
    """
    if not isinstance(text, str):
        raise ValueError(f"not a timestamp string: {text!r}")
    nanos = _parse_canonical(text)
    if nanos is not None:
        return nanos
    try:
        return int(_parse_with_arrow([text])[0])
    except ValueError:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}") from None
