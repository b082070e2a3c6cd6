"""The enrichment job: previous-close moves, candles and indicators on quotes and trades."""

from quoteflow.enrich.job import BEARISH, BULLISH, NEUTRAL, Enricher, EnrichState
from quoteflow.enrich.previous_close import PreviousCloses

__all__ = ["BEARISH", "BULLISH", "NEUTRAL", "EnrichState", "Enricher", "PreviousCloses"]
