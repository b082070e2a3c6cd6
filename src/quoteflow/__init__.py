"""quoteflow: real-time financial market data in one package.

Ingest provider feeds, normalize them to one set of records, enrich, record and
deliver them. The names a user starts from are here::

    from quoteflow import Enricher, Lake, Pipeline, Quote, read_records

The records (:mod:`quoteflow.events`), the pipeline (:class:`Pipeline`,
:class:`Stage`, :class:`Sink`), the enrichment job (:class:`Enricher`), the
lake (:class:`Lake`), the gateway's client (:class:`GatewayClient`) and the
record file readers. Each is imported when first used, so ``import quoteflow``
stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from quoteflow._lazy import lazy_names

__version__ = "0.1.0"

_HOMES = {
    "Alert": "quoteflow.events",
    "Bar": "quoteflow.events",
    "DeadLetter": "quoteflow.events",
    "EnrichedQuote": "quoteflow.events",
    "EnrichedTrade": "quoteflow.events",
    "Quote": "quoteflow.events",
    "Trade": "quoteflow.events",
    "Pipeline": "quoteflow.runtime",
    "Sink": "quoteflow.sinks",
    "Stage": "quoteflow.runtime",
    "Enricher": "quoteflow.enrich",
    "Lake": "quoteflow.lake",
    "GatewayClient": "quoteflow.gateway.client",
    "read_batches": "quoteflow.formats.records",
    "read_records": "quoteflow.formats.records",
}

__all__ = [
    "Alert",
    "Bar",
    "DeadLetter",
    "EnrichedQuote",
    "EnrichedTrade",
    "Enricher",
    "GatewayClient",
    "Lake",
    "Pipeline",
    "Quote",
    "Sink",
    "Stage",
    "Trade",
    "__version__",
    "read_batches",
    "read_records",
]

if TYPE_CHECKING:
    from quoteflow.enrich import Enricher
    from quoteflow.events import Alert, Bar, DeadLetter, EnrichedQuote, EnrichedTrade, Quote, Trade
    from quoteflow.formats.records import read_batches, read_records
    from quoteflow.gateway.client import GatewayClient
    from quoteflow.lake import Lake
    from quoteflow.runtime import Pipeline, Stage
    from quoteflow.sinks import Sink


__getattr__, __dir__ = lazy_names(__name__, _HOMES)
