"""Timestamp parsing and conversion; every result is integer nanoseconds since the epoch, UTC.

RFC 3339 date-times are parsed by Arrow's ISO 8601 parser, vectorised, with
every fraction digit kept. Accepted: ``YYYY-MM-DD``, then ``T`` or a space
(RFC 3339 allows both), ``HH:MM:SS``, up to nine fraction digits, and a zone
(``Z``, ``±HH:MM``, ``±HHMM`` or ``±HH``); the zone is required. Impossible
dates and times (February 30, second 60) and times before 1970 are refused.
The single-value parser is the vectorised one on one value, so both accept
exactly the same strings.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

__all__ = ["MAX_TS_MS", "NS_PER_MS", "now_ns", "parse_rfc3339_ns", "parse_rfc3339_ns_many"]

NS_PER_MS = 1_000_000
MAX_TS_MS = 9_223_372_036_853
"""The largest millisecond timestamp whose nanosecond value fits in int64 (year 2262)."""

_ARROW_NS = pa.timestamp("ns", tz="UTC")
_SECONDS_COLON = 16
"""Index of the ':' before the seconds in ``YYYY-MM-DDTHH:MM:SS``."""


def now_ns() -> int:
    """Return the current wall-clock time in nanoseconds since the epoch."""
    return time.time_ns()


def parse_rfc3339_ns_many(texts: Sequence[str]) -> np.ndarray:
    """Parse RFC 3339 timestamps into an int64 array of nanoseconds since the epoch.

    Raises ``ValueError`` when any value is not a valid timestamp; call
    :func:`parse_rfc3339_ns` on each to find which.

    >>> parse_rfc3339_ns_many(["2021-02-22T15:51:44.208059788Z"]).tolist()
    [1614009104208059788]
    """
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


def parse_rfc3339_ns(text: str) -> int:
    """Parse one RFC 3339 timestamp to nanoseconds since the epoch, keeping every digit.

    Raises ``ValueError`` naming the text when it is not a valid timestamp.

    >>> parse_rfc3339_ns("2021-02-22T15:51:44.208059788Z")
    1614009104208059788
    """
    if not isinstance(text, str):
        raise ValueError(f"not a timestamp string: {text!r}")
    try:
        return int(parse_rfc3339_ns_many([text])[0])
    except ValueError:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}") from None
