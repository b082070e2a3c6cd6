"""What the matching engine is told to do, in the order it is told: the exchange's log."""

from __future__ import annotations

import msgspec

from quoteflow.exchange.orders import AcceptedOrder

__all__ = ["Amend", "Cancel", "Command", "Expire", "Submit"]


class Submit(msgspec.Struct, tag="submit", frozen=True):
    """Accept an order."""

    order: AcceptedOrder


class Cancel(msgspec.Struct, tag="cancel", frozen=True):
    """Cancel an order of ``trader``."""

    order_id: int
    trader: str
    ts: int


class Amend(msgspec.Struct, tag="amend", frozen=True):
    """Change an order's total quantity and/or price (ticks)."""

    order_id: int
    trader: str
    ts: int
    quantity: int | None = None
    price: int | None = None


class Expire(msgspec.Struct, tag="expire", frozen=True):
    """Time has reached ``ts``: expire what is due."""

    ts: int


Command = Submit | Cancel | Amend | Expire
