"""Market records: what the feeds bring in and what enrichment adds.

Units, stated once for every record: every ``ts_*`` field and every field
ending in ``_at`` is an integer count of nanoseconds since the Unix epoch, UTC.
``ts_event`` is the source's own time of the event (the reference write-ups call
it serverTimestamp); ``ts_recv`` is when quoteflow received it (clientTimestamp).
Prices and sizes are float64 market data; money that moves (orders, fills) is
kept in integer ticks by the exchange (:mod:`quoteflow.events.exchange`).
"""

from __future__ import annotations

from typing import ClassVar

import msgspec

__all__ = [
    "Alert",
    "Bar",
    "DeadLetter",
    "EnrichedQuote",
    "EnrichedTrade",
    "Event",
    "News",
    "Quote",
    "Signal",
    "Status",
    "Ticker",
    "Trade",
    "TradeCancel",
    "TradeCorrection",
]


class Event(msgspec.Struct, frozen=True, gc=False):
    """Fields every record carries; subclasses add their own.

    ``TYPE`` names the record type; it is also the default topic name and the
    ``type=`` partition of the lake.
    """

    TYPE: ClassVar[str] = ""

    provider: str
    instrument: str
    ts_event: int
    ts_recv: int


class Quote(Event, frozen=True, gc=False):
    """Top of book: the best bid and ask.

    IG market updates also carry the last trade and the day's statistics (mid
    based); those fields are null for providers that do not send them.
    """

    TYPE: ClassVar[str] = "quotes"

    bid_price: float | None = None
    bid_size: float | None = None
    ask_price: float | None = None
    ask_size: float | None = None
    bid_exchange: str | None = None
    ask_exchange: str | None = None
    conditions: tuple[str, ...] | None = None
    tape: str | None = None
    last_price: float | None = None
    last_size: float | None = None
    volume: float | None = None
    day_open_mid: float | None = None
    day_net_change_mid: float | None = None
    day_percent_change_mid: float | None = None
    day_high: float | None = None
    day_low: float | None = None
    market_state: str | None = None


class Trade(Event, frozen=True, gc=False):
    """One execution. ``aggressor_side`` is ``"buy"`` or ``"sell"`` where known."""

    TYPE: ClassVar[str] = "trades"

    price: float
    size: float
    trade_id: str | None = None
    exchange: str | None = None
    conditions: tuple[str, ...] | None = None
    tape: str | None = None
    aggressor_side: str | None = None


class TradeCorrection(Event, frozen=True, gc=False):
    """A trade the exchange corrected after reporting it: the original and corrected values.

    ``ts_event`` is the corrected trade's time as the provider gives it (Alpaca:
    the original trade's time). The trade it corrects is the one of this
    instrument with ``original_trade_id`` (and ``exchange``, where given); the
    lake's refined trades and the enrichment carry the corrected values.
    """

    TYPE: ClassVar[str] = "trades.corrections"

    original_price: float
    original_size: float
    corrected_price: float
    corrected_size: float
    original_trade_id: str | None = None
    corrected_trade_id: str | None = None
    original_conditions: tuple[str, ...] | None = None
    corrected_conditions: tuple[str, ...] | None = None
    exchange: str | None = None
    tape: str | None = None


class TradeCancel(Event, frozen=True, gc=False):
    """A trade the exchange withdrew: ``action`` is ``"cancel"`` or ``"error"``.

    Either way the trade did not happen: the lake's refined trades leave it out
    (the raw chunks keep it) and the enrichment takes it out of its candles.
    """

    TYPE: ClassVar[str] = "trades.cancels"

    price: float
    size: float
    action: str
    trade_id: str | None = None
    exchange: str | None = None
    tape: str | None = None


class Ticker(Event, frozen=True, gc=False):
    """A derivatives snapshot.

    Book top, mark/index/settlement prices, implied vols, greeks, funding, open
    interest and 24-hour statistics.

    Implied volatilities are in percent, as Deribit sends them;
    ``price_change_pct_24h`` is in percent too.
    """

    TYPE: ClassVar[str] = "tickers"

    state: str | None = None
    bid_price: float | None = None
    bid_size: float | None = None
    bid_iv: float | None = None
    ask_price: float | None = None
    ask_size: float | None = None
    ask_iv: float | None = None
    last_price: float | None = None
    mark_price: float | None = None
    mark_iv: float | None = None
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
    open_interest: float | None = None
    volume_24h: float | None = None
    volume_usd_24h: float | None = None
    price_change_pct_24h: float | None = None
    high_24h: float | None = None
    low_24h: float | None = None
    delta: float | None = None
    gamma: float | None = None
    vega: float | None = None
    theta: float | None = None
    rho: float | None = None
    interest_rate: float | None = None


class Bar(Event, frozen=True, gc=False):
    """An OHLCV bar; ``ts_event`` is the start of the bar.

    ``period`` is a duration such as ``"1m"`` or ``"1d"`` (``"10m/5m"`` for a 10-minute
    window every 5 minutes). ``corrected`` marks a bar the provider re-sent after
    late trades changed it; ``final`` is False for a bar still in progress.
    """

    TYPE: ClassVar[str] = "bars"

    period: str
    open: float
    high: float
    low: float
    close: float
    volume: float
    trade_count: int | None = None
    vwap: float | None = None
    corrected: bool = False
    final: bool = True


class Status(Event, frozen=True, gc=False):
    """A trading status change of an instrument (halt, resumption, ...)."""

    TYPE: ClassVar[str] = "statuses"

    status_code: str
    status_message: str | None = None
    reason_code: str | None = None
    reason_message: str | None = None
    tape: str | None = None


class News(Event, frozen=True, gc=False):
    """A news article; one record per mentioned instrument.

    ``ts_event`` is the time of this version of the article (its update time);
    ``created_at`` is when it was first published. ``instruments`` lists every
    instrument the article mentions.
    """

    TYPE: ClassVar[str] = "news"

    news_id: str
    headline: str
    created_at: int
    instruments: tuple[str, ...] = ()
    summary: str | None = None
    author: str | None = None
    content: str | None = None
    url: str | None = None
    source: str | None = None


class Alert(Event, frozen=True, gc=False):
    """A rule that fired, with the value that fired it."""

    TYPE: ClassVar[str] = "alerts"

    rule: str
    message: str
    value: float | None = None
    threshold: float | None = None


class Signal(Event, frozen=True, gc=False):
    """A trading signal: ``side`` is ``"buy"``, ``"sell"`` or ``"flat"``."""

    TYPE: ClassVar[str] = "signals"

    strategy: str
    side: str
    strength: float | None = None
    price: float | None = None
    reason: str | None = None


class EnrichedQuote(Quote, frozen=True, gc=False):
    """A quote with its enrichment: the move against the previous close, and indicators.

    ``move_price`` is what the move is measured on (the last trade, or the quote
    mid, as configured); ``change_pct`` is its percent change from ``previous_close``;
    ``move`` is ``"Bullish"``, ``"Bearish"`` or ``"Neutral"``, or null with the
    reason in ``move_missing``. ``indicators`` holds the latest closed-bar values,
    by column name (``sma_20``).
    """

    TYPE: ClassVar[str] = "quotes.enriched"

    move_price: float | None = None
    previous_close: float | None = None
    change_pct: float | None = None
    move: str | None = None
    move_missing: str | None = None
    indicators: dict[str, float] | None = None


class EnrichedTrade(Trade, frozen=True, gc=False):
    """A trade with its enrichment; the fields are those of :class:`EnrichedQuote`."""

    TYPE: ClassVar[str] = "trades.enriched"

    move_price: float | None = None
    previous_close: float | None = None
    change_pct: float | None = None
    move: str | None = None
    move_missing: str | None = None
    indicators: dict[str, float] | None = None


class DeadLetter(msgspec.Struct, frozen=True, gc=False):
    """A message that could not be processed, with the reason; never silently dropped.

    ``payload`` is the original message text as received.
    """

    TOPIC: ClassVar[str] = "dead_letters"
    TYPE: ClassVar[str] = TOPIC  # names its Arrow schema, as an event's type does

    provider: str
    stage: str
    ts_recv: int
    field: str
    reason: str
    payload: str
