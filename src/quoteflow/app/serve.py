"""``quoteflow serve``: the gateway fed by the embedded pipeline or by a Kafka bus.

Embedded, the process runs a feed (synthetic, or replayed files) through the
enrichment job and delivers its output. On Kafka (``--bus kafka://...``) it
reads the enriched topics that ``quoteflow run enrich`` processes write, as a
consumer group of its own: every gateway process sees every partition, so
several of them behind a load balancer serve the same feed (each with its own
epoch: a client resumes on the process it left, or starts over from a
snapshot).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from quoteflow.app.gateway import build_gateway
from quoteflow.app.settings import Settings
from quoteflow.app.sources import feed_and_closes
from quoteflow.app.stages import enrich_stage
from quoteflow.bus import Bus
from quoteflow.bus import open as open_bus
from quoteflow.enrich import Enricher, PreviousCloses
from quoteflow.feeds.base import Feed
from quoteflow.gateway.server import GatewayServer, gateway_channels
from quoteflow.gateway.sink import GatewaySink
from quoteflow.indicators.candles import CandleBuilder
from quoteflow.runtime import Pipeline, install_stop_signals

__all__ = ["serve"]

log = logging.getLogger(__name__)


async def serve(
    settings: Settings,
    *,
    bus: Bus | None = None,
    feed: tuple[Feed, PreviousCloses] | None = None,
    on_start: Callable[[GatewayServer], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until ``stop`` (default: SIGINT/SIGTERM): from ``bus`` if given, else ``feed``."""
    config = settings.enrich
    bars = CandleBuilder(config.period, every=config.every, calendar=config.calendar).topic
    channels = gateway_channels(bars)
    gateway = build_gateway(settings, channels)
    server = GatewayServer.from_settings(gateway, settings.gateway)
    if bus is None:
        bus = open_bus("memory://", settings.bus)
        source, closes = feed or feed_and_closes(settings, (), 1.0)
        job = Enricher(config, closes)
        stage = enrich_stage(job)
        pipeline = Pipeline(bus, [source], [stage],
                            [GatewaySink(gateway.hub, channels, gateway.metrics)])  # fmt: skip
    else:
        sink = GatewaySink(gateway.hub, channels, gateway.metrics, name=f"gateway-{gateway.epoch}")
        pipeline = Pipeline(bus, [], [], [sink])
    if stop is None:
        stop = asyncio.Event()
        install_stop_signals(stop)
    await server.start()
    if on_start is not None:
        on_start(server)
    try:
        await pipeline.run(stop)
        await stop.wait()  # a replayed feed ended: keep serving what it left
    finally:
        await server.stop()
        await bus.close()
