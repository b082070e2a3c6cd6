"""The enrichment job: previous-close moves, candles and indicators on quotes and trades.

Names are imported on first use, so reading the job's settings loads no kernel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from quoteflow._lazy import lazy_names

__all__ = ["BEARISH", "BULLISH", "NEUTRAL", "EnrichState", "Enricher", "PreviousCloses"]

if TYPE_CHECKING:
    from quoteflow.enrich.job import BEARISH, BULLISH, NEUTRAL, Enricher
    from quoteflow.enrich.previous_close import PreviousCloses
    from quoteflow.enrich.state import EnrichState

__getattr__, __dir__ = lazy_names(__name__, {
    "BEARISH": "quoteflow.enrich.job",
    "BULLISH": "quoteflow.enrich.job",
    "NEUTRAL": "quoteflow.enrich.job",
    "Enricher": "quoteflow.enrich.job",
    "EnrichState": "quoteflow.enrich.state",
    "PreviousCloses": "quoteflow.enrich.previous_close",
})  # fmt: skip
