"""Deribit ticker notifications -> :class:`~quoteflow.events.Ticker` records.

Futures, perpetuals and options map to one ticker shape; fields an instrument
does not have stay null. ``interest_rate`` is Deribit's ``interest_rate`` for
options and ``interest_value`` for perpetuals, as in the reference records.
"""

from __future__ import annotations

from typing import Any

import msgspec

from quoteflow.errors import NormalizeError
from quoteflow.events import Event, Ticker, Trade
from quoteflow.feeds.base import Normalized, convert, normalize_error_from, reject
from quoteflow.feeds.deribit.schemas import (
    DeribitBookSummary,
    DeribitGreeks,
    DeribitNotification,
    DeribitStats,
    DeribitTicker,
    DeribitTrade,
    DeribitTradesNotification,
    DeribitTradesResponse,
)
from quoteflow.timestamps import NS_PER_MS

__all__ = [
    "PROVIDER",
    "parse_book_summary",
    "parse_frame",
    "parse_message",
    "parse_ticker",
    "parse_trade",
    "parse_trades_frame",
    "parse_trades_page",
]

PROVIDER = "DERIBIT"

_frame_decoder = msgspec.json.Decoder(DeribitNotification)
_trades_decoder = msgspec.json.Decoder(DeribitTradesNotification)
_trades_page_decoder = msgspec.json.Decoder(DeribitTradesResponse)
_NO_STATS = DeribitStats()
_NO_GREEKS = DeribitGreeks()


def parse_ticker(raw: DeribitTicker, ts_recv_ns: int) -> Ticker:
    """Build the ticker record from a validated raw ticker."""
    stats = raw.stats or _NO_STATS
    greeks = raw.greeks or _NO_GREEKS
    interest_rate = raw.interest_rate if raw.interest_rate is not None else raw.interest_value
    # Positional, in Ticker's field order: three times faster than keywords on this hot path.
    return Ticker(
        PROVIDER, raw.instrument_name, raw.timestamp * NS_PER_MS, ts_recv_ns,
        raw.state,
        raw.best_bid_price, raw.best_bid_amount, raw.bid_iv,
        raw.best_ask_price, raw.best_ask_amount, raw.ask_iv,
        raw.last_price, raw.mark_price, raw.mark_iv, raw.index_price,
        raw.min_price, raw.max_price, raw.settlement_price,
        raw.estimated_delivery_price, raw.delivery_price,
        raw.underlying_index, raw.underlying_price,
        raw.current_funding, raw.funding_8h, raw.open_interest,
        stats.volume, stats.volume_usd, stats.price_change, stats.high, stats.low,
        greeks.delta, greeks.gamma, greeks.vega, greeks.theta, greeks.rho,
        interest_rate,
    )  # fmt: skip


def _check_channel(notification: DeribitNotification) -> None:
    if notification.method != "subscription":
        raise NormalizeError("method", f"expected 'subscription', got {notification.method!r}")
    if not notification.params.channel.startswith("ticker."):
        raise NormalizeError(
            "params.channel", f"unsupported channel {notification.params.channel!r}"
        )


def parse_message(message: Any, ts_recv_ns: int, *, instrument: str | None = None) -> list[Event]:
    """Normalize one decoded Deribit message: a subscription notification or its ticker data.

    ``instrument``, when given, must match the message's instrument. Raises
    :class:`~quoteflow.errors.NormalizeError` naming the field that is wrong.

    >>> parse_message({"instrument_name": "BTC-PERPETUAL", "timestamp": 1}, 2)[0].ts_event
    1000000
    """
    if not isinstance(message, dict):
        raise NormalizeError("$", f"expected a JSON object, got {type(message).__name__}")
    if "method" in message:
        notification = convert(message, DeribitNotification)
        _check_channel(notification)
        raw = notification.params.data
    else:
        raw = convert(message, DeribitTicker)
    if instrument is not None and raw.instrument_name != instrument:
        raise NormalizeError(
            "instrument_name", f"expected {instrument!r}, got {raw.instrument_name!r}"
        )
    return [parse_ticker(raw, ts_recv_ns)]


def parse_frame(frame: bytes, ts_recv_ns: int) -> Normalized:
    """Decode and normalize one WebSocket frame holding a ticker notification.

    A frame that cannot be normalized becomes a dead letter instead of an event.
    """
    try:
        notification = _frame_decoder.decode(frame)
        _check_channel(notification)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        error = normalize_error_from(exc)
    except NormalizeError as exc:
        error = exc
    else:
        return Normalized([parse_ticker(notification.params.data, ts_recv_ns)])
    payload = frame.decode("utf-8", errors="replace")
    return Normalized([], [reject(PROVIDER, ts_recv_ns, error, payload)])


def parse_trade(raw: DeribitTrade, ts_recv_ns: int) -> Trade:
    """Build the trade record of a validated raw trade; ``trade_id`` is Deribit's."""
    return Trade(
        PROVIDER, raw.instrument_name, raw.timestamp * NS_PER_MS, ts_recv_ns,
        raw.price, raw.amount, raw.trade_id, None, None, None, raw.direction,
    )  # fmt: skip


def parse_trades_frame(frame: bytes, ts_recv_ns: int) -> tuple[Normalized, list[DeribitTrade]]:
    """Decode a ``trades.*`` notification frame: (records or a dead letter, the raw trades).

    The raw trades come back too, for their ``trade_seq`` (gap detection).
    """
    try:
        notification = _trades_decoder.decode(frame)
        if not notification.params.channel.startswith("trades."):
            raise NormalizeError(
                "params.channel", f"unsupported channel {notification.params.channel!r}"
            )
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        error = normalize_error_from(exc)
    except NormalizeError as exc:
        error = exc
    else:
        raw = notification.params.data
        return Normalized([parse_trade(t, ts_recv_ns) for t in raw]), list(raw)
    payload = frame.decode("utf-8", errors="replace")
    return Normalized([], [reject(PROVIDER, ts_recv_ns, error, payload)]), []


def parse_trades_page(body: bytes) -> tuple[list[DeribitTrade], bool]:
    """Decode an answer of ``public/get_last_trades_by_instrument``: (trades, has_more).

    Raises :class:`~quoteflow.errors.NormalizeError` for an answer that is not valid.
    """
    try:
        page = _trades_page_decoder.decode(body).result
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise normalize_error_from(exc) from exc
    return list(page.trades), page.has_more


def parse_book_summary(raw: DeribitBookSummary, ts_recv_ns: int) -> Ticker:
    """Build a ticker record from a book summary (no sizes, IVs of the book, or greeks)."""
    return Ticker(
        PROVIDER, raw.instrument_name, raw.creation_timestamp * NS_PER_MS, ts_recv_ns,
        None,
        raw.bid_price, None, None,
        raw.ask_price, None, None,
        raw.last, raw.mark_price, raw.mark_iv, None,
        None, None, None,
        raw.estimated_delivery_price, None,
        raw.underlying_index, raw.underlying_price,
        raw.current_funding, raw.funding_8h, raw.open_interest,
        raw.volume, raw.volume_usd, raw.price_change, raw.high, raw.low,
        None, None, None, None, None,
        raw.interest_rate,
    )  # fmt: skip
