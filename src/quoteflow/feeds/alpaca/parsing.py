"""Alpaca market-data stream v2 messages -> quoteflow records.

Quotes, trades with their corrections ``c`` and cancels ``x``, bars (minute
``b``, daily ``d``, updated ``u``), trading statuses ``s`` and news ``n``.
:func:`parse_frame` is the hot path: it decodes a whole frame with one typed
msgspec call and parses its timestamps in one vectorised call; only a frame
holding a bad message falls back to message by message, so that one bad message
costs one dead letter, not the frame.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from quoteflow.errors import NormalizeError
from quoteflow.events import Bar, Event, News, Quote, Status, Trade, TradeCancel, TradeCorrection
from quoteflow.feeds.alpaca.schemas import (
    MESSAGE_TYPES,
    AlpacaBar,
    AlpacaBarsPage,
    AlpacaCancel,
    AlpacaCorrection,
    AlpacaDailyBar,
    AlpacaMessage,
    AlpacaNews,
    AlpacaQuote,
    AlpacaStatus,
    AlpacaTrade,
    AlpacaUpdatedBar,
)
from quoteflow.feeds.base import Normalized, convert, normalize_error_from, reject
from quoteflow.timestamps import parse_rfc3339_ns, parse_rfc3339_ns_many

__all__ = [
    "PROVIDER",
    "parse_bars_page",
    "parse_frame",
    "parse_message",
    "parse_messages",
    "period_of_timeframe",
]

PROVIDER = "ALPACA"
NO_SYMBOL = "_none"
"""Instrument of news that mentions no symbol."""

_frame_decoder = msgspec.json.Decoder(list[AlpacaMessage])
_page_decoder = msgspec.json.Decoder(AlpacaBarsPage)
_TIMEFRAME_RE = re.compile(r"([1-9][0-9]*)(Min|Hour|Day)")
_TIMEFRAME_UNITS = {"Min": "m", "Hour": "h", "Day": "d"}
_generic_decoder = msgspec.json.Decoder()
_TAKER_SIDES = {"B": "buy", "S": "sell"}
_CANCEL_ACTIONS = {"C": "cancel", "E": "error"}
_BAR_KINDS: dict[type, tuple[str, bool, bool]] = {
    AlpacaBar: ("1m", False, True),
    AlpacaUpdatedBar: ("1m", True, True),
    AlpacaDailyBar: ("1d", False, False),  # the day so far, updated through the day
}


def _quote(raw: AlpacaQuote, ts_event: int, ts_recv: int) -> Quote:
    return Quote(
        PROVIDER, raw.S, ts_event, ts_recv,
        raw.bp, raw.bs, raw.ap, raw.as_, raw.bx, raw.ax, raw.c, raw.z,
    )  # fmt: skip


def _trade(raw: AlpacaTrade, ts_event: int, ts_recv: int) -> Trade:
    return Trade(
        PROVIDER, raw.S, ts_event, ts_recv, raw.p, raw.s, _id(raw.i), raw.x, raw.c, raw.z,
        _TAKER_SIDES.get(raw.tks) if raw.tks else None,
    )  # fmt: skip


def _id(trade_id: int | None) -> str | None:
    return None if trade_id is None else str(trade_id)


def _correction(raw: AlpacaCorrection, ts_event: int, ts_recv: int) -> TradeCorrection:
    return TradeCorrection(
        PROVIDER, raw.S, ts_event, ts_recv, raw.op, raw.os, raw.cp, raw.cs,
        _id(raw.oi), _id(raw.ci), raw.oc, raw.cc, raw.x, raw.z,
    )  # fmt: skip


def _cancel(raw: AlpacaCancel, ts_event: int, ts_recv: int) -> TradeCancel:
    action = _CANCEL_ACTIONS.get(raw.a)
    if action is None:
        raise NormalizeError("a", f"expected C (cancel) or E (error), got {raw.a!r}")
    return TradeCancel(PROVIDER, raw.S, ts_event, ts_recv, raw.p, raw.s, action, _id(raw.i),
                       raw.x, raw.z)  # fmt: skip


def _bar(raw: AlpacaBar, ts_event: int, ts_recv: int) -> Bar:
    period, corrected, final = _BAR_KINDS[type(raw)]
    return Bar(
        PROVIDER, raw.S, ts_event, ts_recv, period,
        raw.o, raw.h, raw.l, raw.c, raw.v, raw.n, raw.vw, corrected, final,
    )  # fmt: skip


def _status(raw: AlpacaStatus, ts_event: int, ts_recv: int) -> Status:
    return Status(PROVIDER, raw.S, ts_event, ts_recv, raw.sc, raw.sm, raw.rc, raw.rm, raw.z)


def _news(raw: AlpacaNews, ts_event: int, ts_recv: int) -> list[Event]:
    """One record per mentioned symbol; ``ts_event`` is the article's update time."""
    created_at = _timestamp("created_at", raw.created_at)
    article = (
        str(raw.id), raw.headline, created_at,
        raw.symbols, raw.summary, raw.author, raw.content, raw.url, raw.source,
    )  # fmt: skip
    return [
        News(PROVIDER, instrument, ts_event, ts_recv, *article)
        for instrument in raw.symbols or (NO_SYMBOL,)
    ]


_BUILDERS = {
    AlpacaQuote: _quote,
    AlpacaTrade: _trade,
    AlpacaCorrection: _correction,
    AlpacaCancel: _cancel,
    AlpacaBar: _bar,
    AlpacaDailyBar: _bar,
    AlpacaUpdatedBar: _bar,
    AlpacaStatus: _status,
    AlpacaNews: _news,
}


def _timestamp(field: str, text: str) -> int:
    try:
        return parse_rfc3339_ns(text)
    except ValueError as exc:
        raise NormalizeError(field, str(exc)) from exc


def _events(raw: AlpacaMessage, ts_recv_ns: int) -> list[Event]:
    ts_event = _timestamp("updated_at" if raw.__class__ is AlpacaNews else "t", raw.t)
    built = _BUILDERS[raw.__class__](raw, ts_event, ts_recv_ns)
    return built if isinstance(built, list) else [built]


def _validate(message: Any) -> AlpacaMessage:
    if not isinstance(message, dict):
        raise NormalizeError("$", f"expected a JSON object, got {type(message).__name__}")
    if "T" not in message:
        raise NormalizeError("T", "missing message type")
    cls = MESSAGE_TYPES.get(message["T"]) if isinstance(message["T"], str) else None
    if cls is None:
        raise NormalizeError("T", f"unknown message type {message['T']!r}")
    return convert(message, cls)


def parse_message(message: Any, ts_recv_ns: int, *, instrument: str | None = None) -> list[Event]:
    """Normalize one decoded Alpaca message (a JSON object with a ``T`` type).

    ``instrument``, when given, must match the message's symbol ``S``. Raises
    :class:`~quoteflow.errors.NormalizeError` naming the field that is wrong.

    >>> msg = {"T": "t", "S": "AAPL", "p": 126.55, "s": 1, "t": "2021-02-22T15:51:44.208Z"}
    >>> parse_message(msg, 0)[0].price
    126.55
    """
    raw = _validate(message)
    events = _events(raw, ts_recv_ns)
    if instrument is not None and not isinstance(raw, AlpacaNews) and instrument != raw.S:
        raise NormalizeError("S", f"expected {instrument!r}, got {raw.S!r}")
    return events


def _parse_typed(messages: list[AlpacaMessage], ts_recv_ns: int) -> list[Event]:
    """Build records from a validated frame; raises ValueError on a bad timestamp."""
    stamps = parse_rfc3339_ns_many([m.t for m in messages])
    build = _BUILDERS
    built = [build[m.__class__](m, ts, ts_recv_ns) for m, ts in zip(messages, stamps, strict=True)]
    if list not in set(map(type, built)):
        return built
    # News gives one record per symbol: flatten.
    events: list[Event] = []
    for item in built:
        if item.__class__ is list:
            events.extend(item)
        else:
            events.append(item)
    return events


def period_of_timeframe(timeframe: str) -> str:
    """Return the bar period of an Alpaca REST timeframe.

    >>> period_of_timeframe("1Min"), period_of_timeframe("1Day")
    ('1m', '1d')
    """
    match = _TIMEFRAME_RE.fullmatch(timeframe)
    if match is None:
        raise ValueError(f"timeframe {timeframe!r}: use <n>Min, <n>Hour or <n>Day")
    return f"{match.group(1)}{_TIMEFRAME_UNITS[match.group(2)]}"


def parse_bars_page(body: bytes, ts_recv_ns: int, period: str) -> tuple[list[Bar], str | None]:
    """Normalize one page of the REST bars endpoint: (final bars, next page token or None).

    Raises :class:`~quoteflow.errors.NormalizeError` for a page that is not valid.

    >>> page = (b'{"bars":{"AAPL":[{"t":"2024-01-02T14:30:00Z","o":1,"h":2,"l":0.5,"c":1.5,'
    ...         b'"v":10}]},"next_page_token":null}')
    >>> bars, token = parse_bars_page(page, 0, "1m")
    >>> bars[0].instrument, bars[0].close, token
    ('AAPL', 1.5, None)
    """
    try:
        page = _page_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise normalize_error_from(exc) from exc
    bars: list[Bar] = []
    for symbol, raw_bars in (page.bars or {}).items():
        for raw in raw_bars:
            bars.append(Bar(
                PROVIDER, symbol, _timestamp("t", raw.t), ts_recv_ns, period,
                raw.o, raw.h, raw.l, raw.c, raw.v, raw.n, raw.vw, False, True,
            ))  # fmt: skip
    return bars, page.next_page_token


def _parse_one_by_one(frame: bytes, ts_recv_ns: int) -> Normalized:
    try:
        messages = _generic_decoder.decode(frame)
    except msgspec.DecodeError as exc:
        error = NormalizeError("$", f"not valid JSON: {exc}")
        payload = frame.decode("utf-8", errors="replace")
        return Normalized([], [reject(PROVIDER, ts_recv_ns, error, payload)])
    return parse_messages(messages if isinstance(messages, list) else [messages], ts_recv_ns)


def parse_messages(messages: list[Any], ts_recv_ns: int) -> Normalized:
    """Normalize decoded messages one by one; each bad one becomes a dead letter."""
    result = Normalized([])
    for message in messages:
        try:
            result.events.extend(parse_message(message, ts_recv_ns))
        except NormalizeError as error:
            payload = msgspec.json.encode(message).decode()
            result.rejects.append(reject(PROVIDER, ts_recv_ns, error, payload))
    return result


def parse_frame(frame: bytes, ts_recv_ns: int) -> Normalized:
    """Decode and normalize one WebSocket frame (a JSON array of messages).

    Messages that cannot be normalized become dead letters; the rest become
    records, in frame order.

    >>> frame = (b'[{"T":"q","S":"AMD","bp":87.66,"bs":1,"ap":87.68,"as":4,'
    ...          b'"t":"2021-02-22T15:51:45.335689322Z"}]')
    >>> parse_frame(frame, 0).events[0].ts_event
    1614009105335689322
    """
    try:
        return Normalized(_parse_typed(_frame_decoder.decode(frame), ts_recv_ns))
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError, NormalizeError):
        return _parse_one_by_one(frame, ts_recv_ns)
