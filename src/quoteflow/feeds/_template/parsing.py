"""The example provider's messages -> :class:`~quoteflow.events.Quote` records, purely."""

from __future__ import annotations

from typing import Any

import msgspec

from quoteflow.errors import NormalizeError
from quoteflow.events import Event, Quote
from quoteflow.feeds._template.schemas import ExampleQuote
from quoteflow.feeds.base import Normalized, normalize_error_from, reject
from quoteflow.timestamps import NS_PER_MS

__all__ = ["PROVIDER", "parse_frame", "parse_message"]

PROVIDER = "EXAMPLE"

_frame_decoder = msgspec.json.Decoder(list[ExampleQuote])


def _quote(raw: ExampleQuote, ts_recv_ns: int) -> Quote:
    if raw.t < 0:
        raise NormalizeError("t", f"expected epoch milliseconds >= 0, got {raw.t}")
    return Quote(PROVIDER, raw.sym, raw.t * NS_PER_MS, ts_recv_ns, bid_price=raw.bid,
                 ask_price=raw.ask)  # fmt: skip


def parse_message(message: Any, ts_recv_ns: int, *, instrument: str | None = None) -> list[Event]:
    """Return the records of one decoded message; raises NormalizeError naming the field."""
    try:
        raw = msgspec.convert(message, ExampleQuote)
    except msgspec.ValidationError as exc:
        raise normalize_error_from(exc) from None
    return [_quote(raw, ts_recv_ns)]


def parse_frame(frame: bytes, ts_recv_ns: int) -> Normalized:
    """Return the records of one frame (a JSON array of quotes); a bad frame is a dead letter."""
    try:
        return Normalized([_quote(raw, ts_recv_ns) for raw in _frame_decoder.decode(frame)])
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        error = normalize_error_from(exc)
    except NormalizeError as exc:
        error = exc
    return Normalized([], [reject(PROVIDER, ts_recv_ns, error, frame.decode(errors="replace"))])
