"""Normalize captured provider traffic, one JSON message per line.

This is the library side of ``quoteflow normalize``: each line is a provider
message as JSON (an IG line is an object of field -> string); an optional
``"receivedAtMs"`` key gives the receive time, otherwise the current time is
used. Each line yields its records, or the errors that rejected it.

A line without ``receivedAtMs`` is a frame as the provider sent it, and goes
through the live adapter's own frame parser when the provider has one
(:func:`quoteflow.feeds.alpaca.parse_frame`: one typed decode for a whole
frame of messages instead of one per message); a frame
that holds a bad message is read message by message, so every error names
its message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import msgspec

from quoteflow.errors import NormalizeError
from quoteflow.events import Event
from quoteflow.feeds.registry import provider as provider_named
from quoteflow.timestamps import MAX_TS_MS, NS_PER_MS, now_ns

__all__ = ["LineResult", "normalize_lines"]

RECEIVED_KEY = "receivedAtMs"


class LineResult(msgspec.Struct, frozen=True):
    """What one input line became: records and rejections (1-based line number)."""

    line_number: int
    events: list[Event]
    errors: list[NormalizeError]


def _received_ns(message: Any, clock: Callable[[], int]) -> int:
    if not isinstance(message, dict) or RECEIVED_KEY not in message:
        return clock()
    value = message.pop(RECEIVED_KEY)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TS_MS:
        raise NormalizeError(RECEIVED_KEY, f"expected epoch milliseconds, got {value!r}")
    return value * NS_PER_MS


def _plain_frame(line: bytes) -> bool:
    """Return whether a line is a frame as received: no receive time of its own."""
    return RECEIVED_KEY.encode() not in line


def normalize_lines(
    lines: Iterable[str | bytes],
    provider: str,
    *,
    instrument: str | None = None,
    clock: Callable[[], int] = now_ns,
) -> Iterator[LineResult]:
    """Normalize each non-blank line; a line holding a JSON array is a frame of messages.

    ``provider`` is a name of :data:`~quoteflow.feeds.registry.PROVIDERS`; one whose
    messages do not name their instrument (IG) needs ``instrument``.
    """
    entry = provider_named(provider)
    if entry.instrument_required and not instrument:
        raise ValueError(f"{provider} messages do not name their instrument: give instrument")
    normalizer = entry.parse_message
    frame_parser = entry.parse_frame
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        data = line.encode() if isinstance(line, str) else line
        if frame_parser is not None and _plain_frame(data):
            normalized = frame_parser(data, clock())
            if not normalized.rejects:
                yield LineResult(number, normalized.events, [])
                continue
        try:
            decoded = msgspec.json.decode(data)
        except msgspec.DecodeError as exc:
            yield LineResult(number, [], [NormalizeError("$", f"not valid JSON: {exc}")])
            continue
        events: list[Event] = []
        errors: list[NormalizeError] = []
        for message in decoded if isinstance(decoded, list) else [decoded]:
            try:
                ts_recv = _received_ns(message, clock)
                events.extend(normalizer(message, ts_recv, instrument=instrument))
            except NormalizeError as error:
                errors.append(error)
        yield LineResult(number, events, errors)
