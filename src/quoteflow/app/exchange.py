"""``quoteflow exchange serve``: the order entry API over the exchange, until stopped."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from quoteflow.access.auth import Authenticator
from quoteflow.access.keys import KeyStore
from quoteflow.app.settings import Settings
from quoteflow.app.stages import matching_stage
from quoteflow.bus.base import Bus
from quoteflow.bus.memory import MemoryBus
from quoteflow.exchange.analytics import AnalyticsSink, TradeAnalytics
from quoteflow.exchange.app import create_exchange_app
from quoteflow.exchange.instruments import load_instruments
from quoteflow.exchange.service import Exchange
from quoteflow.exchange.store import CommandStore
from quoteflow.http.server import AsgiServer
from quoteflow.runtime import Pipeline, install_stop_signals

__all__ = ["RunningExchange", "serve_exchange"]


@dataclass(frozen=True)
class RunningExchange:
    """What :func:`serve_exchange` runs: API server, exchange, analytics and the pipeline.

    The pipeline holds the matching stage (unless other processes match, with
    ``quoteflow run match``) and the analytics.
    """

    server: AsgiServer
    exchange: Exchange
    analytics: TradeAnalytics
    pipeline: Pipeline

    def published(self) -> Counter[str]:
        """Return the records sent to the bus by order entry and matching, per topic."""
        return self.exchange.published + self.pipeline.published


async def _expire_on_time(exchange: Exchange, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        exchange.expire_due()


async def _checkpoint_aside(store: CommandStore, every_s: float = 1.0) -> None:
    while True:
        await asyncio.sleep(every_s)
        await asyncio.to_thread(store.checkpoint)


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
    background = [expiring, partial(_checkpoint_aside, store), partial(exchange.publish_to, bus)]
    if exchange.group_commit is not None:
        background.append(exchange.group_commit.run)
    server = AsgiServer(app, name="exchange", host=config.host, port=config.port,
                        background=background)  # fmt: skip
    if stop is None:
        stop = asyncio.Event()
        install_stop_signals(stop)
    finished = asyncio.Event()
    stages = [matching_stage(instruments)] if match else []
    pipeline = Pipeline(bus, [], stages, [AnalyticsSink(bus, analytics, exchange.clock)])
    running = asyncio.create_task(pipeline.run(finished))
    await asyncio.sleep(0)  # the stage joins the orders topic before the log is sent to it
    try:
        await server.start()
        if on_start is not None:
            on_start(RunningExchange(server, exchange, analytics, pipeline))
        await _until(stop, running)
    finally:
        await server.stop()
        finished.set()
        await running
        store.close()


async def _until(stop: asyncio.Event, running: asyncio.Task[None]) -> None:
    """Wait for ``stop``; raise what stopped the pipeline if it ends first."""
    waiting = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({waiting, running}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiting.cancel()
    if running.done():
        await running
