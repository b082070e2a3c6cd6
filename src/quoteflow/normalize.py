"""Normalize captured provider traffic, one JSON message per line.

This is the library side of ``quoteflow normalize``: each line is a provider
message as JSON (an IG line is an object of field -> string); an optional
``"receivedAtMs"`` key gives the receive time, otherwise the current time is
used. Each line yields its reference records, or the errors that rejected it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import msgspec

from quoteflow.errors import NormalizeError
from quoteflow.events import Event
from quoteflow.feeds import NORMALIZERS
from quoteflow.reference import to_reference
from quoteflow.timestamps import MAX_TS_MS, NS_PER_MS, now_ns

__all__ = ["LineResult", "keyed_reference", "normalize_lines"]

RECEIVED_KEY = "receivedAtMs"


class LineResult(msgspec.Struct, frozen=True):
    """What one input line became: reference records and rejections (1-based line number)."""

    line_number: int
    records: list[dict[str, Any]]
    errors: list[NormalizeError]


def keyed_reference(event: Event) -> dict[str, Any]:
    """Return the reference record preceded by its provider, type and instrument."""
    return {
        "provider": event.provider,
        "type": event.TYPE,
        "instrument": event.instrument,
        **to_reference(event),
    }


def _received_ns(message: Any, clock: Callable[[], int]) -> int:
    if not isinstance(message, dict) or RECEIVED_KEY not in message:
        return clock()
    value = message.pop(RECEIVED_KEY)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TS_MS:
        raise NormalizeError(RECEIVED_KEY, f"expected epoch milliseconds, got {value!r}")
    return value * NS_PER_MS


def normalize_lines(
    lines: Iterable[str | bytes],
    provider: str,
    *,
    instrument: str | None = None,
    keys: bool = False,
    clock: Callable[[], int] = now_ns,
) -> Iterator[LineResult]:
    """Normalize each non-blank line; a line holding a JSON array is a frame of messages.

    ``provider`` is ``"alpaca"``, ``"deribit"`` or ``"ig"``. With ``keys`` each
    record starts with its provider, type and instrument.
    """
    try:
        normalizer = NORMALIZERS[provider]
    except KeyError:
        raise ValueError(
            f"unknown provider {provider!r}; known: {', '.join(NORMALIZERS)}"
        ) from None
    view = keyed_reference if keys else to_reference
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            decoded = msgspec.json.decode(line)
        except msgspec.DecodeError as exc:
            yield LineResult(number, [], [NormalizeError("$", f"not valid JSON: {exc}")])
            continue
        records: list[dict[str, Any]] = []
        errors: list[NormalizeError] = []
        for message in decoded if isinstance(decoded, list) else [decoded]:
            try:
                ts_recv = _received_ns(message, clock)
                events = normalizer(message, ts_recv, instrument=instrument)
            except NormalizeError as error:
                errors.append(error)
            else:
                records.extend(view(event) for event in events)
        yield LineResult(number, records, errors)
