"""What the matching engine is told to do, in the order it is told: the exchange's log.

Every command names its symbol, which is its key on the ``orders`` topic: the
commands of one symbol stay in order in one partition, and one book never
depends on another's commands.
"""

from __future__ import annotations

import msgspec

from quoteflow.exchange.orders import AcceptedOrder

__all__ = ["Amend", "Cancel", "Command", "Expire", "Sequenced", "Submit", "symbol_of"]


class Submit(msgspec.Struct, tag="submit", frozen=True):
    """Accept an order."""

    order: AcceptedOrder


class Cancel(msgspec.Struct, tag="cancel", frozen=True):
    """Cancel an order of ``trader``."""

    symbol: str
    order_id: int
    trader: str
    ts: int


class Amend(msgspec.Struct, tag="amend", frozen=True):
    """Change an order's total quantity and/or price (ticks)."""

    symbol: str
    order_id: int
    trader: str
    ts: int
    quantity: int | None = None
    price: int | None = None


class Expire(msgspec.Struct, tag="expire", frozen=True):
    """Time has reached ``ts``: expire what is due in the book of ``symbol``."""

    symbol: str
    ts: int


Command = Submit | Cancel | Amend | Expire


class Sequenced(msgspec.Struct, frozen=True, gc=False):
    """A command with its sequence number in the log: a record of the ``orders`` topic."""

    sequence: int
    command: Command


def symbol_of(command: Command) -> str:
    """Return the symbol ``command`` is about (its key on the ``orders`` topic)."""
    return command.order.symbol if isinstance(command, Submit) else command.symbol
