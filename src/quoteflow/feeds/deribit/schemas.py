"""Raw Deribit payloads, with Deribit's own field names.

The ``ticker.{instrument}.{interval}`` channel sends one shape for futures,
perpetuals and options; fields that do not apply to an instrument are absent.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from quoteflow.feeds.base import EpochMs, FiniteFloat, NonNegativeFloat

__all__ = [
    "DeribitGreeks",
    "DeribitNotification",
    "DeribitStats",
    "DeribitTicker",
    "DeribitTickerParams",
]

InstrumentName = Annotated[str, msgspec.Meta(min_length=1)]


class DeribitStats(msgspec.Struct, frozen=True, gc=False):
    """24-hour statistics; ``price_change`` is in percent."""

    high: FiniteFloat | None = None
    low: FiniteFloat | None = None
    price_change: FiniteFloat | None = None
    volume: NonNegativeFloat | None = None
    volume_usd: NonNegativeFloat | None = None
    volume_notional: NonNegativeFloat | None = None


class DeribitGreeks(msgspec.Struct, frozen=True, gc=False):
    """Option greeks."""

    delta: FiniteFloat | None = None
    gamma: FiniteFloat | None = None
    vega: FiniteFloat | None = None
    theta: FiniteFloat | None = None
    rho: FiniteFloat | None = None


class DeribitTicker(msgspec.Struct, frozen=True, gc=False):
    """The ``data`` of a ticker notification; ``timestamp`` is in milliseconds."""

    instrument_name: InstrumentName
    timestamp: EpochMs
    state: str | None = None
    best_bid_price: FiniteFloat | None = None
    best_bid_amount: NonNegativeFloat | None = None
    best_ask_price: FiniteFloat | None = None
    best_ask_amount: NonNegativeFloat | None = None
    bid_iv: NonNegativeFloat | None = None
    ask_iv: NonNegativeFloat | None = None
    mark_iv: NonNegativeFloat | None = None
    last_price: FiniteFloat | None = None
    mark_price: FiniteFloat | None = None
    index_price: FiniteFloat | None = None
    min_price: FiniteFloat | None = None
    max_price: FiniteFloat | None = None
    settlement_price: FiniteFloat | None = None
    estimated_delivery_price: FiniteFloat | None = None
    delivery_price: FiniteFloat | None = None
    underlying_index: str | None = None
    underlying_price: FiniteFloat | None = None
    current_funding: FiniteFloat | None = None
    funding_8h: FiniteFloat | None = None
    open_interest: NonNegativeFloat | None = None
    interest_rate: FiniteFloat | None = None
    interest_value: FiniteFloat | None = None
    stats: DeribitStats | None = None
    greeks: DeribitGreeks | None = None


class DeribitTickerParams(msgspec.Struct, frozen=True, gc=False):
    """``params`` of a ticker subscription notification."""

    channel: str
    data: DeribitTicker


class DeribitNotification(msgspec.Struct, frozen=True, gc=False):
    """A JSON-RPC 2.0 subscription notification carrying a ticker."""

    method: str
    params: DeribitTickerParams
    jsonrpc: str = "2.0"
