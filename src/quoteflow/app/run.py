"""``quoteflow run <stage>``: one stage of the pipeline as its own process on a shared bus.

``ingest`` publishes a feed to the raw topics; ``enrich`` turns quotes and
trades into the enriched topics; ``lake`` records every event topic (raw,
enriched, bars, alerts) and the dead letters into the lake; ``gateway`` serves
the enriched topics to subscribers (as ``quoteflow serve --bus``); ``match`` is
the exchange's matching engine, one per ``orders`` partition (next to
``quoteflow exchange serve --bus ... --no-match``).
Each stage is a consumer group (``stage:enrich``, ``sink:lake``), so starting a
second process of a stage splits the partitions between them.
"""

from __future__ import annotations

import asyncio
import logging

from quoteflow.app.settings import Settings
from quoteflow.bus import Bus
from quoteflow.bus import open as open_bus
from quoteflow.errors import ConfigError
from quoteflow.runtime import Pipeline, install_stop_signals

__all__ = ["PROCESSES", "lake_topics", "run_stage"]

PROCESSES = ("ingest", "enrich", "lake", "gateway", "match")
"""What ``quoteflow run`` runs: the registry's stages, and the feed, lake and gateway."""


def _pipeline(stage: str, bus: Bus, settings: Settings, **options) -> Pipeline:
    from quoteflow.app.sources import feed_and_closes
    from quoteflow.app.stages import STAGES
    from quoteflow.indicators.candles import CandleBuilder
    from quoteflow.lake import LakeRoot, LakeSink, LakeWriter

    config = settings.enrich
    if stage == "ingest":
        feed, _ = feed_and_closes(settings, options["files"], options["speed"],
                                  duration_s=options["duration"])  # fmt: skip
        return Pipeline(bus, [feed])
    kind = STAGES.get(stage)
    if kind is not None:
        built = kind.build(settings)
        # created now, not when the first bar closes in the middle of the stream
        bus.ensure_topics(kind.outputs(built.operator))
        return Pipeline(bus, [], [built])
    lake = settings.lake
    root = LakeRoot.open(options["root"] or lake.root, lake.endpoint_url)
    writer = LakeWriter(root, options["source"], chunk_rows=lake.chunk_rows,
                        chunk_age_s=options["chunk_age"] or lake.chunk_age_s)  # fmt: skip
    bars = CandleBuilder(config.period, every=config.every, calendar=config.calendar).topic
    return Pipeline(bus, [], [], [LakeSink(lake_topics(bars), writer)])


def lake_topics(bars: str) -> tuple[str, ...]:
    """Return the topics the lake stage records: every event topic, and the dead letters.

    ``bars`` names the bars topic (``bars.<period>``).
    """
    from quoteflow.events import EVENT_TYPES, Bar, DeadLetter

    return (*(topic for topic in EVENT_TYPES if topic != Bar.TYPE), bars, DeadLetter.TOPIC)


async def run_stage(stage: str, bus_url: str, settings: Settings, **options) -> None:
    """Run ``stage`` on the bus at ``bus_url`` until its feed ends or SIGINT/SIGTERM."""
    if stage not in PROCESSES:
        raise ConfigError(f"unknown stage {stage!r}; stages: {', '.join(PROCESSES)}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if not bus_url.startswith("kafka://"):
        raise ConfigError(f"bus {bus_url!r}: a stage of its own runs on kafka://host:port")
    bus = open_bus(bus_url, settings.bus)
    if stage == "gateway":
        from quoteflow.app.serve import serve

        await serve(settings, bus=bus)
        return
    pipeline = _pipeline(stage, bus, settings, **options)
    stop = asyncio.Event()
    install_stop_signals(stop)
    try:
        await pipeline.run(stop)
    finally:
        await bus.close()
