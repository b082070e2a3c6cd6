"""The example provider's wire messages, with its own field names."""

from __future__ import annotations

import msgspec

__all__ = ["ExampleQuote"]


class ExampleQuote(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A quote as the provider sends it: symbol, bid, ask, time in epoch milliseconds."""

    sym: str
    bid: float
    ask: float
    t: int
