"""The matching engine: operations per second on one core, next to the tests' reference book.

A realistic flow on one symbol, generated once with a fixed seed: 60% limit
orders within 5 ticks of the touch (a third of them crossing it), 22% cancels
of a random open order, 12% amends (half reduce the quantity, half re-price),
6% market orders; 50 traders. Both books get the same commands; the reference
book (``tests/exchange/reference_book.py``, a list searched at every step) only
the first part of the flow, as it slows down with the book's size.
"""

from __future__ import annotations

import random
import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from quoteflow.exchange.engine import Engine
from quoteflow.exchange.instruments import ExchangeInstrument
from quoteflow.exchange.orders import AcceptedOrder, OrderType, Side, TimeInForce

ACME = ExchangeInstrument("ACME", Decimal("0.01"), Decimal("100.00"), band_pct=Decimal(20))
_MID = 10_000


@dataclass
class EngineFigures:
    """Operations per second of the engine and of the reference book, on the same flow."""

    operations: int
    engine_per_s: float
    reference_operations: int
    reference_per_s: float


def flow(count: int, seed: int = 5) -> list[tuple]:
    """Return ``count`` commands: ("submit", order) / ("cancel", id, trader) / ("amend", ...)."""
    rng = random.Random(seed)
    commands: list[tuple] = []
    owners: dict[int, str] = {}
    submitted = 0
    for now in range(count):
        roll = rng.random()
        if roll < 0.66 or not owners:
            trader = f"t{rng.randrange(50)}"
            side = Side.BUY if rng.random() < 0.5 else Side.SELL
            if roll > 0.60:
                order = AcceptedOrder(
                    "c",
                    trader,
                    "ACME",
                    side,
                    OrderType.MARKET,
                    rng.randint(1, 5),
                    None,
                    TimeInForce.IOC,
                    None,
                    now,
                )
            else:
                towards = rng.randint(-1, 4)  # > 0: away from the touch; -1: crossing
                price = _MID - towards if side is Side.BUY else _MID + towards
                order = AcceptedOrder(
                    "c",
                    trader,
                    "ACME",
                    side,
                    OrderType.LIMIT,
                    rng.randint(1, 10),
                    price,
                    TimeInForce.GTC,
                    None,
                    now,
                )
            commands.append(("submit", order))
            submitted += 1
            owners[submitted] = trader
        else:
            order_id = rng.choice(list(owners)[-200:])
            trader = owners[order_id]
            if roll < 0.88:
                commands.append(("cancel", order_id, trader, now))
                owners.pop(order_id)
            elif rng.random() < 0.5:
                commands.append(("amend", order_id, trader, now, 1, None))
            else:
                commands.append(("amend", order_id, trader, now, None, _MID + rng.randint(-4, 4)))
    return commands


def _apply(book, commands: list[tuple]) -> float:
    started = time.perf_counter()
    for command in commands:
        kind = command[0]
        if kind == "submit":
            book.submit(command[1])
        elif kind == "cancel":
            book.cancel(command[1], command[2], command[3])
        else:
            book.amend(command[1], command[2], command[3], quantity=command[4], price=command[5])
    return time.perf_counter() - started


def bench_exchange(count: int = 300_000, reference_count: int = 20_000) -> EngineFigures:
    """Run the flow through the engine (best of 3) and the reference book."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.exchange.reference_book import ReferenceBook

    commands = flow(count)
    engine_s = min(_apply(Engine({"ACME": ACME}), commands) for _ in range(3))
    reference_s = _apply(ReferenceBook(ACME), commands[:reference_count])
    return EngineFigures(count, count / engine_s, reference_count, reference_count / reference_s)


if __name__ == "__main__":
    print(bench_exchange())
