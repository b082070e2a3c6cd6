"""Feeds: provider adapters (one folder each), the synthetic feed and replay.

Each provider folder has the same files: ``schemas.py`` (raw payloads, the
provider's own field names) and ``parsing.py`` (pure functions from raw payloads
to records, with ``ts_recv_ns`` passed in). Past ``parsing.py`` only the shared
records of :mod:`quoteflow.events` exist.
"""

from __future__ import annotations

from collections.abc import Callable

from quoteflow.events import Event
from quoteflow.feeds import alpaca, deribit, ig
from quoteflow.feeds.base import Feed, Normalized

__all__ = ["NORMALIZERS", "Feed", "MessageNormalizer", "Normalized"]

MessageNormalizer = Callable[..., list[Event]]
"""``(message, ts_recv_ns, *, instrument=None) -> list[Event]``; raises NormalizeError."""

NORMALIZERS: dict[str, MessageNormalizer] = {
    "alpaca": alpaca.parse_message,
    "deribit": deribit.parse_message,
    "ig": ig.parse_message,
}
"""The message normalizer of each provider, by its lower-case name."""
