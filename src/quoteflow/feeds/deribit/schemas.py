"""Raw Deribit payloads, with Deribit's own field names.

The ``ticker.{instrument}.{interval}`` channel sends one shape for futures,
perpetuals and options; fields that do not apply to an instrument are absent.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from quoteflow.feeds.base import EpochMs, NonNegativeFloat

__all__ = [
    "DeribitBookSummary",
    "DeribitGreeks",
    "DeribitInstrument",
    "DeribitNotification",
    "DeribitStats",
    "DeribitTicker",
    "DeribitTickerParams",
    "DeribitTrade",
    "DeribitTradesNotification",
    "DeribitTradesPage",
    "DeribitTradesResponse",
]

InstrumentName = Annotated[str, msgspec.Meta(min_length=1)]


class DeribitStats(msgspec.Struct, frozen=True, gc=False):
    """24-hour statistics; ``price_change`` is in percent."""

    high: float | None = None
    low: float | None = None
    price_change: float | None = None
    volume: NonNegativeFloat | None = None
    volume_usd: NonNegativeFloat | None = None
    volume_notional: NonNegativeFloat | None = None


class DeribitGreeks(msgspec.Struct, frozen=True, gc=False):
    """Option greeks."""

    delta: float | None = None
    gamma: float | None = None
    vega: float | None = None
    theta: float | None = None
    rho: float | None = None


class DeribitTicker(msgspec.Struct, frozen=True, gc=False):
    """The ``data`` of a ticker notification; ``timestamp`` is in milliseconds."""

    instrument_name: InstrumentName
    timestamp: EpochMs
    state: str | None = None
    best_bid_price: float | None = None
    best_bid_amount: NonNegativeFloat | None = None
    best_ask_price: float | None = None
    best_ask_amount: NonNegativeFloat | None = None
    bid_iv: NonNegativeFloat | None = None
    ask_iv: NonNegativeFloat | None = None
    mark_iv: NonNegativeFloat | None = None
    last_price: float | None = None
    mark_price: float | None = None
    index_price: float | None = None
    min_price: float | None = None
    max_price: float | None = None
    settlement_price: float | None = None
    estimated_delivery_price: float | None = None
    delivery_price: float | None = None
    underlying_index: str | None = None
    underlying_price: float | None = None
    current_funding: float | None = None
    funding_8h: float | None = None
    open_interest: NonNegativeFloat | None = None
    interest_rate: float | None = None
    interest_value: float | None = None
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


class DeribitTrade(msgspec.Struct, frozen=True, gc=False):
    """One trade of the ``trades.{instrument}.{interval}`` channel or the trades history.

    ``trade_seq`` counts the instrument's trades one by one: a jump is a gap.
    ``direction`` is the taker's side; ``amount`` is in contracts (USD for
    inverse futures and perpetuals, the coin for options).
    """

    trade_seq: Annotated[int, msgspec.Meta(ge=0)]
    trade_id: str
    timestamp: EpochMs
    price: float
    amount: NonNegativeFloat
    direction: Literal["buy", "sell"]
    instrument_name: InstrumentName
    tick_direction: int | None = None
    index_price: float | None = None
    mark_price: float | None = None
    iv: float | None = None
    liquidation: str | None = None
    block_trade_id: str | None = None


class DeribitTradesParams(msgspec.Struct, frozen=True, gc=False):
    """``params`` of a trades subscription notification."""

    channel: str
    data: list[DeribitTrade]


class DeribitTradesNotification(msgspec.Struct, frozen=True, gc=False):
    """A JSON-RPC 2.0 subscription notification carrying trades."""

    method: str
    params: DeribitTradesParams
    jsonrpc: str = "2.0"


class DeribitTradesPage(msgspec.Struct, frozen=True, gc=False):
    """``result`` of ``public/get_last_trades_by_instrument``."""

    trades: list[DeribitTrade]
    has_more: bool = False


class DeribitTradesResponse(msgspec.Struct, frozen=True, gc=False):
    """The JSON-RPC answer of ``public/get_last_trades_by_instrument``."""

    result: DeribitTradesPage
    jsonrpc: str = "2.0"


class DeribitInstrument(msgspec.Struct, frozen=True, gc=False):
    """One instrument of ``public/get_instruments``."""

    instrument_name: InstrumentName
    kind: str
    base_currency: str
    expiration_timestamp: EpochMs
    is_active: bool = True
    strike: float | None = None
    option_type: str | None = None
    settlement_period: str | None = None


class DeribitBookSummary(msgspec.Struct, frozen=True, gc=False):
    """One instrument of ``public/get_book_summary_by_currency`` (a snapshot)."""

    instrument_name: InstrumentName
    creation_timestamp: EpochMs
    bid_price: float | None = None
    ask_price: float | None = None
    last: float | None = None
    mark_price: float | None = None
    mark_iv: float | None = None
    underlying_index: str | None = None
    underlying_price: float | None = None
    estimated_delivery_price: float | None = None
    interest_rate: float | None = None
    current_funding: float | None = None
    funding_8h: float | None = None
    open_interest: NonNegativeFloat | None = None
    volume: NonNegativeFloat | None = None
    volume_usd: NonNegativeFloat | None = None
    price_change: float | None = None
    high: float | None = None
    low: float | None = None
