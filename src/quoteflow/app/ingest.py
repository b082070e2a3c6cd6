"""Run a live feed: record it into the lake (embedded) or publish it onto Kafka.

Embedded, the ingester writes raw chunks under ``source=primary`` (or
``replica``, for a second ingester of the same feed on another machine); the
daily coalescing merges both. With a Kafka bus it publishes to the raw topics
and dead letters, and the ``enrich`` and ``lake`` stages take it from there.
Either way the feed's metrics are logged every ``stats_every_s`` and once more
when it stops.
"""

from __future__ import annotations

import asyncio
import logging

from quoteflow.app.record import record_feed
from quoteflow.app.settings import Settings
from quoteflow.feeds.base import Normalized
from quoteflow.feeds.connection import FeedMetrics, WebSocketFeed

__all__ = ["run_ingest"]

log = logging.getLogger("quoteflow.app.ingest")


async def _report(metrics: FeedMetrics, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        log.info("%s", metrics.line())


def _log_rejects(normalized: Normalized) -> None:
    for dead in normalized.rejects:
        log.warning("%s dead letter: %s: %s: %.200s", dead.provider, dead.field, dead.reason,
                    dead.payload)  # fmt: skip


async def _into_lake(feed: WebSocketFeed, settings: Settings, root: str | None, source: str,
                     stop: asyncio.Event) -> None:  # fmt: skip
    from quoteflow.lake import LakeRoot, LakeWriter

    lake = settings.lake
    writer = LakeWriter(LakeRoot.open(root or lake.root, lake.endpoint_url), source,
                        chunk_rows=lake.chunk_rows, chunk_age_s=lake.chunk_age_s)  # fmt: skip

    await record_feed(feed, writer, stop, on_frame=_log_rejects)
    log.info("%s: %s records in %s chunks", feed.name, f"{writer.rows_written:,}",
             writer.chunks_written)  # fmt: skip


async def _onto_bus(feed: WebSocketFeed, settings: Settings, bus_url: str,
                    stop: asyncio.Event) -> None:  # fmt: skip
    from quoteflow.bus import open as open_bus
    from quoteflow.runtime import Pipeline

    bus = open_bus(bus_url, settings.bus)
    try:
        await Pipeline(bus, [feed]).run(stop)
    finally:
        await bus.close()


async def run_ingest(
    feed: WebSocketFeed,
    settings: Settings,
    *,
    bus_url: str | None = None,
    root: str | None = None,
    source: str = "primary",
    duration_s: float | None = None,
    stop: asyncio.Event | None = None,
    stats_every_s: float = 10.0,
) -> FeedMetrics:
    """Run ``feed`` until ``stop`` is set (or ``duration_s`` passed); return its metrics.

    With ``bus_url`` (``kafka://host:port``) the records go to the raw topics;
    otherwise they are recorded into the lake at ``root`` (default: ``[lake] root``)
    as ``source`` (``primary`` or ``replica``). Authentication and subscription
    refusals end the run with their error.
    """
    stop = stop or asyncio.Event()
    if duration_s is not None:
        asyncio.get_running_loop().call_later(duration_s, stop.set)
    reporter = asyncio.create_task(_report(feed.metrics, stats_every_s))
    try:
        if bus_url is not None:
            await _onto_bus(feed, settings, bus_url, stop)
        else:
            await _into_lake(feed, settings, root, source, stop)
    finally:
        reporter.cancel()
        log.info("%s", feed.metrics.line())
    return feed.metrics
