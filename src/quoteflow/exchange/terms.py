"""The words of an order: its side, its type and how long it may rest.

Plain enumerations with no dependencies, so the command line can offer them as
choices without loading the exchange.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["OrderType", "Side", "TimeInForce"]


class Side(StrEnum):
    """Buy or sell."""

    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    """A limit order has a price; a market order takes what the book offers, within the band."""

    LIMIT = "limit"
    MARKET = "market"


class TimeInForce(StrEnum):
    """How long an order may rest: the session, until cancelled, not at all, or until a time."""

    DAY = "DAY"
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    GTD = "GTD"
