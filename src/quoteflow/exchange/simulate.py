"""Random but realistic order flow, for demos and load: a market maker and many traders.

:class:`OrderFlow` decides what happens next; a driver carries it out and tells
the flow what came of it. Per symbol, a market maker (``mm``) keeps a bid and
an ask a few ticks either side of a mid price that walks at random (pulled back
towards the reference price, so it stays inside the band), refreshing them as
the mid moves. The traders (``t01``, ``t02``, ...) send limit orders near the
touch (some crossing it), market orders, orders valid for a few seconds (GTD),
cancels and quantity reductions of their own open orders. Every quantity is a
whole number of lots and every price is on the tick grid, so refusals are rare
and mean something (an order outside a band that moved, the market closed).

Two drivers: :func:`drive_exchange` calls an in-process
:class:`~quoteflow.exchange.service.Exchange` (the demo), :func:`drive_http`
sends the flow over the order entry API with one key per trader (load).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import tempfile
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from quoteflow.access.keys import KeyStore
from quoteflow.exchange.client import ExchangeClient
from quoteflow.exchange.errors import ExchangeRequestError, OrderRejectedError, UnknownOrderError
from quoteflow.exchange.instruments import ExchangeInstrument
from quoteflow.exchange.orders import OrderRequest
from quoteflow.exchange.service import Exchange
from quoteflow.exchange.store import CommandStore

__all__ = [
    "Amend",
    "Cancel",
    "OrderFlow",
    "Place",
    "SimulationReport",
    "drive_exchange",
    "drive_http",
    "simulate_embedded",
    "simulate_http",
]

MARKET_MAKER = "mm"


@dataclass(frozen=True)
class Place:
    """``trader`` places ``order`` (its fields as the API takes them)."""

    trader: str
    order: dict[str, Any]


@dataclass(frozen=True)
class Cancel:
    """``trader`` cancels their order ``order_id``."""

    trader: str
    order_id: int


@dataclass(frozen=True)
class Amend:
    """``trader`` reduces their order ``order_id`` to ``quantity``."""

    trader: str
    order_id: int
    quantity: int


Action = Place | Cancel | Amend


@dataclass
class SimulationReport:
    """What a simulation sent and what came of it; fills (in-process) and latencies in ms (HTTP)."""

    sent: int = 0
    accepted: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    fills: int | None = None
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Actions carried out per second."""
        return self.sent / self.seconds if self.seconds else 0.0

    def latency(self, quantile: float) -> float | None:
        """Return a latency quantile in ms (None without latencies)."""
        if not self.latencies_ms:
            return None
        return float(np.quantile(self.latencies_ms, quantile))


class _Symbol:
    def __init__(self, instrument: ExchangeInstrument) -> None:
        self.instrument = instrument
        self.reference = instrument.ticks(instrument.reference_price)
        self.mid = float(self.reference)
        self.quotes: list[int] = []  # the market maker's open order ids
        self.tick = 0.0005 * self.reference  # a typical step of the mid, in ticks


class OrderFlow:
    """What ``traders`` traders and a market maker do next on ``instruments``, at random."""

    def __init__(self, instruments: Mapping[str, ExchangeInstrument], *, traders: int = 50,
                 seed: int | None = None) -> None:  # fmt: skip
        if traders < 1 or not instruments:
            raise ValueError("a simulation needs at least one trader and one instrument")
        self.rng = random.Random(seed)
        self.symbols = {s: _Symbol(i) for s, i in instruments.items()}
        self.traders = [f"t{n:02d}" for n in range(1, traders + 1)]
        # each trader's open orders: (order id, open quantity, lot size)
        self.open: dict[str, deque[tuple[int, int, int]]] = {t: deque(maxlen=20)
                                                             for t in self.traders}  # fmt: skip
        self.pending: deque[Action] = deque()
        self._numbers = 0

    def _client_order_id(self) -> str:
        self._numbers += 1
        return f"sim-{self._numbers}"

    def _price(self, symbol: _Symbol, ticks: float) -> str:
        instrument = symbol.instrument
        low, high = instrument.band(symbol.reference)
        return str(instrument.price(min(high, max(low, round(ticks)))))

    def _quote(self, name: str, symbol: _Symbol) -> None:
        """Move the mid; have the market maker replace its bid and ask around it."""
        pull = 0.05 * (symbol.reference - symbol.mid)
        symbol.mid += self.rng.gauss(pull, symbol.tick)
        for order_id in symbol.quotes:
            self.pending.append(Cancel(MARKET_MAKER, order_id))
        symbol.quotes = []
        lots = symbol.instrument.lot_size * self.rng.randint(5, 20)
        spread = max(1.0, symbol.tick)
        for side, sign in (("buy", -1), ("sell", 1)):
            self.pending.append(Place(MARKET_MAKER, {
                "client_order_id": self._client_order_id(), "symbol": name, "side": side,
                "quantity": lots, "price": self._price(symbol, symbol.mid + sign * spread),
                "time_in_force": "GTC"}))  # fmt: skip

    def next(self) -> Action:
        """Return the next action."""
        if self.pending:
            return self.pending.popleft()
        rng = self.rng
        name = rng.choice(list(self.symbols))
        symbol = self.symbols[name]
        if rng.random() < 0.08 or not symbol.quotes:
            self._quote(name, symbol)
            return self.pending.popleft()
        trader = rng.choice(self.traders)
        roll = rng.random()
        mine = self.open[trader]
        if roll < 0.18 and mine:
            return Cancel(trader, mine.popleft()[0])
        if roll < 0.26 and mine and mine[0][1] > mine[0][2]:  # one lot cannot get smaller
            order_id, quantity, lot = mine.popleft()  # amended once: its size is no longer known
            return Amend(trader, order_id, max(lot, quantity // 2 // lot * lot))
        side = rng.choice(("buy", "sell"))
        quantity = symbol.instrument.lot_size * rng.randint(1, 10)
        order: dict[str, Any] = {"client_order_id": self._client_order_id(), "symbol": name,
                                 "side": side, "quantity": quantity}  # fmt: skip
        if roll < 0.38:
            order.update(type="market", time_in_force="IOC")
            return Place(trader, order)
        away = rng.choice((-2, -1, 0, 1, 2, 3, 4, 6)) * max(1.0, symbol.tick)
        sign = -1 if side == "buy" else 1
        order["price"] = self._price(symbol, symbol.mid + sign * away)
        if roll < 0.50:
            expiry = datetime.now(UTC) + timedelta(seconds=rng.randint(2, 30))
            order.update(time_in_force="GTD", expire_at=expiry.isoformat())
        else:
            order["time_in_force"] = "GTC"
        return Place(trader, order)

    def came_of(self, action: Action, order_id: int, status: str, open_quantity: int) -> None:
        """Learn the state an action left its order in (from the answer to it)."""
        if not isinstance(action, Place) or status not in ("new", "partially_filled"):
            return
        if action.trader == MARKET_MAKER:
            self.symbols[action.order["symbol"]].quotes.append(order_id)
        else:
            lot = self.symbols[action.order["symbol"]].instrument.lot_size
            self.open[action.trader].append((order_id, open_quantity, lot))


async def drive_exchange(exchange: Exchange, flow: OrderFlow, *, rate: float, seconds: float,
                         progress: Callable[[SimulationReport], None] | None = None,
                         ) -> SimulationReport:  # fmt: skip
    """Carry out ``rate`` actions a second on an in-process exchange for ``seconds``."""
    report = SimulationReport()
    started = time.monotonic()
    executions_before = exchange.execution_count()
    step_s = 0.01
    while (elapsed := time.monotonic() - started) < seconds:
        due = int(rate * elapsed) - report.sent
        for _ in range(max(0, due)):
            action = flow.next()
            report.sent += 1
            try:
                if isinstance(action, Place):
                    request = msgspec.convert(action.order, OrderRequest, strict=False)
                    update = exchange.place(request, action.trader)
                elif isinstance(action, Cancel):
                    update = exchange.cancel(action.order_id, action.trader)
                else:
                    update = exchange.amend(action.order_id, action.trader,
                                            quantity=action.quantity)  # fmt: skip
            except OrderRejectedError as error:
                report.refused[error.reason.value] += 1
                continue
            except UnknownOrderError:
                report.refused["unknown_order"] += 1
                continue
            report.accepted += 1
            flow.came_of(action, update.order_id, update.status.value, update.open)
        report.seconds = time.monotonic() - started
        if progress is not None:
            progress(report)
        await asyncio.sleep(step_s)
    report.fills = exchange.execution_count() - executions_before
    report.seconds = time.monotonic() - started
    return report


async def drive_http(url: str, keys: Mapping[str, str], flow: OrderFlow, *, rate: float,
                     seconds: float, in_flight: int = 256,
                     progress: Callable[[SimulationReport], None] | None = None,
                     ) -> SimulationReport:  # fmt: skip
    """Send ``rate`` actions a second over the order entry API for ``seconds`` (open loop).

    ``keys`` holds an API key per trader of the flow (and the market maker).
    At most ``in_flight`` requests wait for their answer at once; past that the
    rate falls (the report says the rate reached).
    """
    report = SimulationReport()
    clients = {trader: ExchangeClient(url, key) for trader, key in keys.items()}
    slots = asyncio.Semaphore(in_flight)
    tasks: set[asyncio.Task[None]] = set()

    async def carry_out(action: Action) -> None:
        client = clients[action.trader]
        sent = time.perf_counter()
        try:
            if isinstance(action, Place):
                state = await client.place(**action.order)
            elif isinstance(action, Cancel):
                state = await client.cancel(action.order_id)
            else:
                state = await client.amend(action.order_id, quantity=action.quantity)
        except ExchangeRequestError as error:
            report.refused[error.reason] += 1
            return
        finally:
            report.latencies_ms.append((time.perf_counter() - sent) * 1e3)
            slots.release()
        report.accepted += 1
        flow.came_of(action, state["order_id"], state["status"], state["open"])

    async with contextlib.AsyncExitStack() as sessions:
        for client in clients.values():
            await sessions.enter_async_context(client)
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < seconds:
            for _ in range(max(0, int(rate * elapsed) - report.sent)):
                await slots.acquire()
                report.sent += 1
                task = asyncio.create_task(carry_out(flow.next()))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            report.seconds = time.monotonic() - started
            if progress is not None:
                progress(report)
            await asyncio.sleep(0.005)
        if tasks:
            await asyncio.gather(*tasks)
    report.seconds = time.monotonic() - started
    return report


Progress = Callable[[SimulationReport], None] | None


async def simulate_embedded(instruments: Mapping[str, ExchangeInstrument], *, traders: int,
                            rate: float, seconds: float, seed: int | None = None,
                            progress: Progress = None) -> SimulationReport:  # fmt: skip
    """Run the flow against an exchange in this process, with a throwaway command store."""
    flow = OrderFlow(instruments, traders=traders, seed=seed)
    with tempfile.TemporaryDirectory(prefix="quoteflow-simulate-") as directory:
        store = CommandStore(Path(directory) / "exchange.db")
        try:
            exchange = Exchange(instruments, store)
            return await drive_exchange(exchange, flow, rate=rate, seconds=seconds,
                                        progress=progress)  # fmt: skip
        finally:
            store.close()


async def simulate_http(url: str, keys_db: str | Path, *, traders: int, rate: float,
                        seconds: float, seed: int | None = None,
                        progress: Progress = None) -> SimulationReport:  # fmt: skip
    """Run the flow over the API of the exchange at ``url``, as traders ``sim-<run>-<name>``.

    Their keys are created in the key store ``keys_db`` (the exchange's) for the
    run and revoked after it.
    """
    async with ExchangeClient(url, "") as client:
        listed = await client.instruments()
    instruments = {i["symbol"]: msgspec.convert(i, ExchangeInstrument, strict=False)
                   for i in listed}  # fmt: skip
    flow = OrderFlow(instruments, traders=traders, seed=seed)
    store = KeyStore(keys_db)
    run = secrets.token_hex(3)
    keys: dict[str, str] = {}
    try:
        for trader in [MARKET_MAKER, *flow.traders]:
            keys[trader] = store.create(f"sim-{run}-{trader}", channels=["exchange"],
                                        instruments=list(instruments))[1]  # fmt: skip
        return await drive_http(url, keys, flow, rate=rate, seconds=seconds, progress=progress)
    finally:
        for trader in keys:
            store.revoke(f"sim-{run}-{trader}")
