"""One registry of every record type the system speaks, by the name that travels with it.

Market records are named by their ``TYPE`` (``"quotes"``, also their default
topic and the lake's ``type=`` partition); the exchange's records by
``exchange.<kind>``. The bus writes these names into its schema header and
reads records back through :func:`record_type`.
"""

from __future__ import annotations

from quoteflow.events.exchange import (
    BookUpdate,
    Execution,
    OrderUpdate,
    Sequenced,
    WindowLeader,
    WindowStats,
)
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

__all__ = [
    "EVENT_TYPES",
    "EXCHANGE_RECORDS",
    "RECORD_TYPES",
    "event_type",
    "record_name",
    "record_type",
]

EVENT_TYPES: dict[str, type[Event]] = {
    cls.TYPE: cls
    for cls in (
        Quote,
        Trade,
        TradeCorrection,
        TradeCancel,
        Ticker,
        Bar,
        Status,
        News,
        Alert,
        Signal,
        EnrichedQuote,
        EnrichedTrade,
    )
}


def event_type(name: str) -> type[Event]:
    """Return the record class for a type name such as ``"quotes"``.

    Raises ``KeyError`` with the known names when ``name`` is not one of them.
    """
    try:
        return EVENT_TYPES[name]
    except KeyError:
        raise KeyError(f"unknown record type {name!r}; known: {', '.join(EVENT_TYPES)}") from None


EXCHANGE_RECORDS: dict[str, type] = {
    "exchange.order": Sequenced,
    "exchange.order_update": OrderUpdate,
    "exchange.execution": Execution,
    "exchange.book": BookUpdate,
    "exchange.window_stats": WindowStats,
    "exchange.window_leader": WindowLeader,
}
"""Record types of the exchange by the name their schema header gives them."""

RECORD_TYPES: dict[str, type] = {**EVENT_TYPES, DeadLetter.TYPE: DeadLetter, **EXCHANGE_RECORDS}
"""Every record type by the name that travels with it."""

_NAMES = {cls: name for name, cls in RECORD_TYPES.items()}


def record_type(name: str) -> type:
    """Return the record class named ``name``, market or exchange.

    Raises ``KeyError`` with the known names when ``name`` is not one of them.
    """
    try:
        return RECORD_TYPES[name]
    except KeyError:
        raise KeyError(f"unknown record type {name!r}; known: {', '.join(RECORD_TYPES)}") from None


def record_name(cls: type) -> str:
    """Return the name that travels with records of ``cls``.

    Raises ``KeyError`` for a class that is not a record type.
    """
    try:
        return _NAMES[cls]
    except KeyError:
        raise KeyError(f"{cls.__name__} is not a record type of quoteflow") from None
