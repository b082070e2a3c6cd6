"""The stages quoteflow runs, by name: what each reads and writes, and how it is built.

``quoteflow run <stage>`` on Kafka, the demo, ``serve`` and ``enrich`` all take
their stages from here, so a stage is wired in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from quoteflow.app.settings import Settings
from quoteflow.app.sources import previous_closes_in
from quoteflow.bus import open as open_bus
from quoteflow.enrich import Enricher
from quoteflow.events import DeadLetter
from quoteflow.exchange.instruments import ExchangeInstrument, load_instruments
from quoteflow.exchange.matcher import ORDERS_TOPIC, OUTPUT_TOPICS, MatchingOperator
from quoteflow.feeds.base import Feed
from quoteflow.runtime import Pipeline, Stage
from quoteflow.sinks import Sink

__all__ = ["STAGES", "StageKind", "embedded_enrich", "enrich_stage", "matching_stage"]


@dataclass(frozen=True)
class StageKind:
    """A stage by name: its input topics, its output topics and how to build it."""

    name: str
    inputs: tuple[str, ...]
    outputs: Callable[[Any], tuple[str, ...]]
    """The topics the built operator writes (created before it starts)."""
    build: Callable[[Settings], Stage]


def enrich_stage(job: Enricher) -> Stage:
    """Return the enrichment stage: quotes, trades and their amendments in, enriched out."""
    return Stage("enrich", job.input_topics, job)


def matching_stage(instruments: Mapping[str, ExchangeInstrument]) -> Stage:
    """Return the matching stage: ``orders`` in, the engine's records out."""
    return Stage("match", (ORDERS_TOPIC,), MatchingOperator(instruments))


def _enrich(settings: Settings) -> Stage:
    config = settings.enrich
    return enrich_stage(Enricher(config, previous_closes_in(config.previous_closes,
                                                            config.calendar)))  # fmt: skip


def _match(settings: Settings) -> Stage:
    return matching_stage(load_instruments(settings.exchange.instruments))


STAGES: dict[str, StageKind] = {
    "enrich": StageKind("enrich", Enricher.input_topics,
                        lambda job: (*job.output_topics, DeadLetter.TOPIC), _enrich),
    "match": StageKind("match", (ORDERS_TOPIC,), lambda _: OUTPUT_TOPICS, _match),
}  # fmt: skip
"""The stages that run on their own (``quoteflow run <name>``)."""


def embedded_enrich(
    settings: Settings, feed: Feed, job: Enricher, sinks: Sequence[Sink]
) -> Pipeline:
    """Return the embedded pipeline of ``quoteflow enrich``: the feed, the job, the sinks."""
    return Pipeline(open_bus("memory://", settings.bus), [feed], [enrich_stage(job)], sinks)
