"""``quoteflow exchange serve``: the order entry API over the exchange, until stopped."""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial

from quoteflow.asgi_server import AsgiServer
from quoteflow.bus.base import Bus, send_in_order
from quoteflow.bus.memory import MemoryBus
from quoteflow.config import Settings
from quoteflow.events import Trade
from quoteflow.exchange.analytics import TradeAnalytics
from quoteflow.exchange.app import create_exchange_app
from quoteflow.exchange.instruments import ExchangeInstrument, load_instruments
from quoteflow.exchange.matcher import ORDERS_TOPIC, PROVIDER, TRADES_TOPIC, MatchingOperator
from quoteflow.exchange.service import Exchange
from quoteflow.exchange.store import CommandStore
from quoteflow.gateway.auth import Authenticator
from quoteflow.gateway.keys import KeyStore
from quoteflow.runtime import Pipeline, Stage, install_stop_signals

__all__ = ["RunningExchange", "matching_stage", "serve_exchange"]


@dataclass(frozen=True)
class RunningExchange:
    """What :func:`serve_exchange` runs: API server, exchange, analytics, matching stage.

    ``matching`` is None when other processes match (``quoteflow run match``).
    """

    server: AsgiServer
    exchange: Exchange
    analytics: TradeAnalytics
    matching: Pipeline | None

    def published(self) -> Counter[str]:
        """Return the records sent to the bus by order entry and matching, per topic."""
        matched = self.matching.published if self.matching is not None else Counter()
        return self.exchange.published + matched


async def _expire_on_time(exchange: Exchange, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        exchange.expire_due()


async def _checkpoint_aside(store: CommandStore, every_s: float = 1.0) -> None:
    while True:
        await asyncio.sleep(every_s)
        await asyncio.to_thread(store.checkpoint)


async def _analyse_trades(bus: Bus, analytics: TradeAnalytics, clock: Callable[[], int],
                          every_s: float = 1.0) -> None:  # fmt: skip
    """Feed the exchange's trades from ``bus`` to ``analytics``; publish what closes.

    Each process reads every partition (a consumer group of its own): a window's
    leader needs every symbol's trades.
    """
    consumer = bus.subscribe(f"exchange-analytics-{secrets.token_hex(4)}", [TRADES_TOPIC])
    try:
        while True:
            messages = await consumer.poll(max_records=10_000, timeout_s=every_s)
            trades = [m.value for m in messages
                      if isinstance(m.value, Trade) and m.value.provider == PROVIDER]  # fmt: skip
            await send_in_order(bus, analytics.process(trades) + analytics.advance(clock()))
            await consumer.commit()
    finally:
        await consumer.close()


async def serve_exchange(
    settings: Settings,
    *,
    bus: Bus | None = None,
    match: bool = True,
    on_start: Callable[[RunningExchange], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve the exchange of ``[exchange]`` until ``stop`` (default: SIGINT/SIGTERM).

    The command store is replayed first, so a restart continues where the last run
    ended. Sequenced orders go to the ``orders`` topic of ``bus`` (default: an
    embedded bus of its own); with ``match`` the matching stage runs here too and
    publishes the engine's records (without, ``quoteflow run match`` processes
    do). Raises ConfigError for unusable reference data or a taken port.
    """
    config = settings.exchange
    instruments = load_instruments(config.instruments)
    bus = bus if bus is not None else MemoryBus()
    store = CommandStore(config.db, fsync=config.fsync)
    exchange = Exchange(instruments, store)
    analytics = TradeAnalytics(config.stats_window, config.stats_every,
                               allowed_lateness_ms=config.stats_lateness_ms)  # fmt: skip
    app = create_exchange_app(exchange, Authenticator(KeyStore(settings.gateway.keys_db)),
                              analytics)  # fmt: skip
    expiring = partial(_expire_on_time, exchange, config.expiry_check_s)
    background = [expiring, partial(_checkpoint_aside, store), partial(exchange.publish_to, bus),
                  partial(_analyse_trades, bus, analytics, exchange.clock)]  # fmt: skip
    server = AsgiServer(app, name="exchange", host=config.host, port=config.port,
                        background=background)  # fmt: skip
    if stop is None:
        stop = asyncio.Event()
        install_stop_signals(stop)
    finished = asyncio.Event()
    stage = matching_stage(bus, instruments) if match else None
    matching = asyncio.create_task(stage.run(finished)) if stage is not None else None
    await asyncio.sleep(0)  # the stage joins the orders topic before the log is sent to it
    try:
        await server.start()
        if on_start is not None:
            on_start(RunningExchange(server, exchange, analytics, stage))
        await _until(stop, matching)
    finally:
        await server.stop()
        finished.set()
        if matching is not None:
            await matching
        store.close()


async def _until(stop: asyncio.Event, matching: asyncio.Task[None] | None) -> None:
    """Wait for ``stop``; raise what stopped the matching stage if it ends first."""
    waiting = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({waiting, *([matching] if matching else [])},
                           return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
    finally:
        waiting.cancel()
    if matching is not None and matching.done():
        await matching


def matching_stage(bus: Bus, instruments: Mapping[str, ExchangeInstrument]) -> Pipeline:
    """Return the pipeline of the matching stage: ``orders`` in, the engine's records out."""
    return Pipeline(bus, [], [Stage("match", (ORDERS_TOPIC,), MatchingOperator(instruments))])
