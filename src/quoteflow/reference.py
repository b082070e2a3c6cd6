"""The reference record format: camelCase fields and millisecond timestamps.

This is the external shape of the records in the BidFlow write-ups (see
``shared/vectors``), used for JSON on the wire and for CSV exports. Events are
turned into it at the edge, never earlier::

    >>> from quoteflow.events import Quote
    >>> to_reference(Quote("IG", "CS.D.BITCOIN.CFE.IP", 2_000_000, 3_000_000, bid_price=1.5))
    ... # doctest: +ELLIPSIS
    {'serverTimestamp': 2, 'clientTimestamp': 3, 'bidPrice': 1.5, 'askPrice': None, ...}

Each record type has a default layout (every field, camelCase, in declaration
order); providers whose reference write-up fixed another shape have their own.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import msgspec

from quoteflow.events import Event, Quote, Ticker
from quoteflow.timestamps import NS_PER_MS

__all__ = ["reference_fields", "to_reference"]

Layout = tuple[tuple[str, str, Callable[[Any], Any] | None], ...]
"""(reference name, event field, conversion or None) for each output field, in order."""


def _ms(value: int | None) -> int | None:
    return None if value is None else value // NS_PER_MS


def _whole_number(value: float | None) -> float | int | None:
    """Write integral volumes as integers, as the IG reference records do."""
    if value is None or not value.is_integer():
        return value
    return int(value)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


_TIMESTAMP_NAMES = {"ts_event": "serverTimestamp", "ts_recv": "clientTimestamp"}
_KEY_FIELDS = {"provider", "instrument"}


@cache
def _default_layout(cls: type[Event]) -> Layout:
    layout = []
    for name in cls.__struct_fields__:
        if name in _KEY_FIELDS:
            continue
        if name in _TIMESTAMP_NAMES:
            layout.append((_TIMESTAMP_NAMES[name], name, _ms))
        elif name.endswith("_at"):
            layout.append((_camel(name), name, _ms))
        else:
            layout.append((_camel(name), name, None))
    return tuple(layout)


_TICKER_LAYOUT: Layout = (
    ("serverTimestamp", "ts_event", _ms),
    ("clientTimestamp", "ts_recv", _ms),
    ("indexPrice", "index_price", None),
    ("orderBookState", "state", None),
    ("markPrice", "mark_price", None),
    ("markImpliedVolatility", "mark_iv", None),
    ("bidPrice", "bid_price", None),
    ("bidAmount", "bid_size", None),
    ("bidImpliedVolatility", "bid_iv", None),
    ("askPrice", "ask_price", None),
    ("askAmount", "ask_size", None),
    ("askImpliedVolatility", "ask_iv", None),
    ("lastTradedPrice", "last_price", None),
    ("minPrice", "min_price", None),
    ("maxPrice", "max_price", None),
    ("settlementPrice", "settlement_price", None),
    ("estimatedDeliveryPrice", "estimated_delivery_price", None),
    ("deliveryPrice", "delivery_price", None),
    ("underlyingIndex", "underlying_index", None),
    ("underlyingPrice", "underlying_price", None),
    ("currentFunding", "current_funding", None),
    ("funding8h", "funding_8h", None),
    ("openInterest", "open_interest", None),
    ("volume24h", "volume_24h", None),
    ("volumeUsd24h", "volume_usd_24h", None),
    ("pricePercentChange24h", "price_change_pct_24h", None),
    ("high24h", "high_24h", None),
    ("low24h", "low_24h", None),
    ("delta", "delta", None),
    ("gamma", "gamma", None),
    ("vega", "vega", None),
    ("theta", "theta", None),
    ("rho", "rho", None),
    ("interestRate", "interest_rate", None),
)

_IG_QUOTE_LAYOUT: Layout = (
    ("serverTimestamp", "ts_event", _ms),
    ("clientTimestamp", "ts_recv", _ms),
    ("bidPrice", "bid_price", None),
    ("askPrice", "ask_price", None),
    ("lastTradedPrice", "last_price", None),
    ("lastTradedVolume", "last_size", _whole_number),
    ("incrementalTradingVolume", "volume", _whole_number),
    ("dayOpenMid", "day_open_mid", None),
    ("dayNetChangeMid", "day_net_change_mid", None),
    ("dayPercentChangeMid", "day_percent_change_mid", None),
    ("dayHigh", "day_high", None),
    ("dayLow", "day_low", None),
)

_QUOTE_LAYOUT: Layout = (
    ("serverTimestamp", "ts_event", _ms),
    ("clientTimestamp", "ts_recv", _ms),
    ("bidPrice", "bid_price", None),
    ("bidAmount", "bid_size", None),
    ("askPrice", "ask_price", None),
    ("askAmount", "ask_size", None),
    ("bidExchange", "bid_exchange", None),
    ("askExchange", "ask_exchange", None),
    ("conditions", "conditions", None),
    ("tape", "tape", None),
)

_PROVIDER_LAYOUTS: dict[tuple[type[Event], str], Layout] = {
    (Quote, "IG"): _IG_QUOTE_LAYOUT,
}
_TYPE_LAYOUTS: dict[type[Event], Layout] = {Quote: _QUOTE_LAYOUT, Ticker: _TICKER_LAYOUT}


@cache
def _layout_for(cls: type[Event], provider: str) -> Layout:
    """Return the layout of ``cls`` from ``provider``.

    A subclass of a type with a fixed layout (an enriched quote) gets that layout
    followed by its own fields, named the default way.
    """
    for base in cls.__mro__:
        layout = _PROVIDER_LAYOUTS.get((base, provider)) or _TYPE_LAYOUTS.get(base)
        if layout is not None:
            if base is cls:
                return layout
            own = set(cls.__struct_fields__) - set(base.__struct_fields__)
            return layout + tuple(item for item in _default_layout(cls) if item[1] in own)
    return _default_layout(cls)


def reference_fields(cls: type[Event], provider: str) -> list[str]:
    """Return the reference field names, in order, for records of ``cls`` from ``provider``."""
    return [name for name, _, _ in _layout_for(cls, provider)]


def to_reference(event: Event) -> dict[str, Any]:
    """Return the reference view of one record: camelCase names, millisecond timestamps.

    Provider and instrument are not part of the record: the reference keeps them
    in the file or topic name.
    """
    values = msgspec.structs.asdict(event)
    out: dict[str, Any] = {}
    for name, field, convert in _layout_for(type(event), event.provider):
        value = values[field]
        if convert is not None:
            value = convert(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[name] = value
    return out
