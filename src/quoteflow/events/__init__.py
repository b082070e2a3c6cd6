"""Every record the system speaks, market and exchange alike, and their Arrow form.

:mod:`~quoteflow.events.market` holds what the feeds bring and enrichment adds,
:mod:`~quoteflow.events.exchange` the exchange's orders, commands and reports,
:mod:`~quoteflow.events.schemas` the Arrow schemas and conversions, and
:mod:`~quoteflow.events.registry` every record type by the name that travels
with it on the bus and in files. The Arrow side (and pyarrow with it) is
imported on first use, so a command that only names records starts fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from quoteflow._lazy import lazy_names
from quoteflow.events.market import (
    Alert,
    Bar,
    DeadLetter,
    EnrichedQuote,
    EnrichedTrade,
    Event,
    News,
    Quote,
    Signal,
    Status,
    Ticker,
    Trade,
    TradeCancel,
    TradeCorrection,
)
from quoteflow.events.registry import EVENT_TYPES, event_type, record_name, record_type

if TYPE_CHECKING:
    from quoteflow.events.schemas import (
        Interleaved,
        arrow_schema,
        batch_type,
        conform,
        from_batch,
        to_batch,
    )

__all__ = [
    "EVENT_TYPES",
    "Alert",
    "Bar",
    "DeadLetter",
    "EnrichedQuote",
    "EnrichedTrade",
    "Event",
    "Interleaved",
    "News",
    "Quote",
    "Signal",
    "Status",
    "Ticker",
    "Trade",
    "TradeCancel",
    "TradeCorrection",
    "arrow_schema",
    "batch_type",
    "conform",
    "event_type",
    "from_batch",
    "record_name",
    "record_type",
    "to_batch",
]

__getattr__, __dir__ = lazy_names(
    __name__, dict.fromkeys(
        ("Interleaved", "arrow_schema", "batch_type", "conform", "from_batch", "to_batch"),
        "quoteflow.events.schemas",
    )
)  # fmt: skip
