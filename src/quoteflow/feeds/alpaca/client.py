"""Alpaca's market-data WebSocket stream v2 (stocks, crypto) and news stream.

Session: the server greets (``[{"T":"success","msg":"connected"}]``), the
client authenticates with ``{"action":"auth","key":...,"secret":...}``, then
subscribes; the session is open once the server's ``subscription`` message
lists every requested symbol. After a reconnect the whole subscription is sent
again, live data resumes at once, and the minute bars missed while
disconnected are fetched from the REST API beside it (a rate-limited fetch
never holds live quotes); bars already published, by the live stream or an
earlier fill, are dropped, so each minute bar goes out once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

import aiohttp
import msgspec

from quoteflow.errors import (
    AuthenticationError,
    FeedConnectionError,
    FeedError,
    SubscriptionError,
)
from quoteflow.events import Bar, Event
from quoteflow.feeds.alpaca.config import AlpacaSettings
from quoteflow.feeds.alpaca.history import AlpacaHistory, credentials
from quoteflow.feeds.alpaca.parsing import parse_frame, parse_messages
from quoteflow.feeds.base import Normalized
from quoteflow.feeds.config import ConnectionPolicy
from quoteflow.feeds.connection import WebSocketFeed, receive_frame

__all__ = ["CHANNELS", "AlpacaStream", "AssetClass"]

log = logging.getLogger("quoteflow.feeds")

AssetClass = Literal["stocks", "crypto", "news"]

CHANNELS: dict[str, tuple[str, ...]] = {
    "stocks": ("trades", "quotes", "bars", "updatedBars", "dailyBars", "statuses"),
    "crypto": ("trades", "quotes", "bars", "updatedBars", "dailyBars"),
    "news": ("news",),
}
"""The channels each stream can subscribe, by Alpaca's names."""

_MINUTE_NS = 60_000_000_000
_CONTROL_MARKERS = (b'"success"', b'"subscription"', b'"error"')
"""Byte strings in every frame that may hold control messages (a cheap test before decoding)."""
_REFUSED_CREDENTIALS = frozenset({402})
_REFUSED_SUBSCRIPTION = frozenset({400, 405, 409, 410})
_decoder = msgspec.json.Decoder()


def _error_of(message: Mapping[str, Any]) -> FeedError:
    code, text = message.get("code"), message.get("msg")
    what = f"{code} {text}"
    if code in _REFUSED_CREDENTIALS:
        return AuthenticationError(
            f"alpaca: authentication failed ({what}); check QUOTEFLOW_ALPACA__KEY_ID and "
            "QUOTEFLOW_ALPACA__SECRET_KEY"
        )
    if code in _REFUSED_SUBSCRIPTION:
        return SubscriptionError(f"alpaca: subscription refused ({what})")
    return FeedConnectionError(f"alpaca: server error {what}")


class AlpacaStream(WebSocketFeed):
    """Stream quotes, trades, bars, statuses (or news) of a symbol list from Alpaca.

    ``subscriptions`` maps channels (:data:`CHANNELS`) to symbols, ``"*"`` for
    all, e.g. ``{"quotes": ["AAPL"], "bars": ["AAPL", "MSFT"]}``. ``backfill``
    fetches the minute bars missed during a disconnect from the REST API.

    >>> settings = AlpacaSettings(key_id="k", secret_key="s")
    >>> AlpacaStream(settings, {"quotes": ["AAPL"]})._url()
    'wss://stream.data.alpaca.markets/v2/iex'
    """

    name: ClassVar[str] = "alpaca"
    compress: ClassVar[int] = 15  # Alpaca supports permessage-deflate: quote floods shrink ~10x

    def __init__(
        self,
        settings: AlpacaSettings,
        subscriptions: Mapping[str, Sequence[str]],
        *,
        asset_class: AssetClass = "stocks",
        backfill: bool = True,
        policy: ConnectionPolicy | None = None,
    ) -> None:
        super().__init__(policy or settings.policy())
        self._key_id, self._secret_key = credentials(settings)
        self.settings = settings
        self.asset_class = asset_class
        self.backfill = backfill and asset_class != "news"
        self.subscriptions: dict[str, list[str]] = {}
        self._merge(subscriptions, add=True)
        if not any(self.subscriptions.values()):
            raise ValueError("alpaca: subscribe at least one symbol on one channel")
        self.confirmed: dict[str, list[str]] = {}
        self._last_bar_ns: dict[str, int] = {}
        self._live_bars: set[tuple[str, int]] = set()
        """Minute bars the live stream delivered since the last reconnect (instrument, time)."""
        self._first_open_ns: int | None = None

    def _merge(self, subscriptions: Mapping[str, Sequence[str]], *, add: bool) -> None:
        for channel, symbols in subscriptions.items():
            if channel not in CHANNELS[self.asset_class]:
                raise ValueError(
                    f"alpaca {self.asset_class}: unknown channel {channel!r}; "
                    f"channels: {', '.join(CHANNELS[self.asset_class])}"
                )
            current = self.subscriptions.setdefault(channel, [])
            if add:
                current.extend(s for s in symbols if s not in current)
            else:
                current[:] = [s for s in current if s not in symbols]

    def _url(self) -> str:
        base = self.settings.stream_url.rstrip("/")
        if self.asset_class == "crypto":
            return f"{base}/v1beta3/crypto/{self.settings.crypto_location}"
        if self.asset_class == "news":
            return f"{base}/v1beta1/news"
        return f"{base}/v2/{self.settings.feed}"

    async def _open(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._expect(await _control_messages(ws), "connected")
        auth = {"action": "auth", "key": self._key_id, "secret": self._secret_key}
        await ws.send_str(msgspec.json.encode(auth).decode())  # JSON in text frames, as documented
        self._expect(await _control_messages(ws), "authenticated")
        await ws.send_str(self._action("subscribe", self.subscriptions).decode())
        while True:
            for message in await _control_messages(ws):
                if message.get("T") == "error":
                    raise _error_of(message)
                if message.get("T") == "subscription":
                    self._confirm(message)
                    self._live_bars.clear()
                    if self._first_open_ns is None:
                        self._first_open_ns = time.time_ns()
                    return

    @staticmethod
    def _expect(messages: list[dict[str, Any]], success: str) -> None:
        for message in messages:
            if message.get("T") == "error":
                raise _error_of(message)
            if message.get("T") == "success" and message.get("msg") == success:
                return
        raise FeedConnectionError(f"alpaca: expected {success!r}, got {messages!r:.200}")

    def _confirm(self, message: Mapping[str, Any]) -> None:
        self.confirmed = {
            channel: list(message.get(channel) or ()) for channel in CHANNELS[self.asset_class]
        }
        missing = {
            channel: sorted(set(symbols) - set(self.confirmed[channel]))
            for channel, symbols in self.subscriptions.items()
            if "*" not in self.confirmed[channel]
        }
        missing = {channel: symbols for channel, symbols in missing.items() if symbols}
        if missing:
            raise SubscriptionError(f"alpaca: the server did not confirm {missing}")

    @staticmethod
    def _action(action: str, subscriptions: Mapping[str, Sequence[str]]) -> bytes:
        return msgspec.json.encode({"action": action, **subscriptions})

    async def subscribe(self, subscriptions: Mapping[str, Sequence[str]]) -> None:
        """Add symbols to channels now (if connected) and after every reconnect."""
        self._merge(subscriptions, add=True)
        await self._send(self._action("subscribe", subscriptions).decode())

    async def unsubscribe(self, subscriptions: Mapping[str, Sequence[str]]) -> None:
        """Remove symbols from channels, now and for later reconnects."""
        self._merge(subscriptions, add=False)
        await self._send(self._action("unsubscribe", subscriptions).decode())

    def _on_frame(self, frame: bytes, ts_recv_ns: int) -> Normalized:
        if any(marker in frame for marker in _CONTROL_MARKERS):
            normalized = self._mixed_frame(frame, ts_recv_ns)
        else:
            normalized = parse_frame(frame, ts_recv_ns)
        if b'"b"' in frame:  # a minute bar may be in it (the value of its "T")
            normalized.events = self._new_bars_only(normalized.events)
        return normalized

    def _mixed_frame(self, frame: bytes, ts_recv_ns: int) -> Normalized:
        """Handle a frame holding control messages (confirmations, errors) besides data."""
        try:
            messages = _decoder.decode(frame)
        except msgspec.DecodeError:
            return parse_frame(frame, ts_recv_ns)  # its dead letter says what is wrong
        data = []
        for message in messages if isinstance(messages, list) else [messages]:
            kind = message.get("T") if isinstance(message, dict) else None
            if kind == "subscription":
                self.confirmed = {c: list(message.get(c) or ()) for c in CHANNELS[self.asset_class]}
            elif kind == "error":
                log.warning("alpaca: %s", _error_of(message))
            elif kind != "success":
                data.append(message)
        return parse_messages(data, ts_recv_ns)

    def _new_bars_only(self, events: list[Event]) -> list[Event]:
        """Drop minute bars already published (a backfill got them first); note the newest."""
        kept: list[Event] = []
        last = self._last_bar_ns
        for event in events:
            if event.__class__ is Bar and event.period == "1m" and not event.corrected:
                if event.ts_event <= last.get(event.instrument, -1):
                    self.metrics.duplicates += 1
                    continue
                last[event.instrument] = event.ts_event
                self._live_bars.add((event.instrument, event.ts_event))
            kept.append(event)
        return kept

    async def _backfill(self, http: aiohttp.ClientSession) -> Normalized | None:
        wanted = self.subscriptions.get("bars", [])
        symbols = sorted(self._last_bar_ns) if "*" in wanted else wanted
        if not (self.backfill and symbols):
            return None
        now_ns = time.time_ns()
        last_closed_ns = now_ns - now_ns % _MINUTE_NS - _MINUTE_NS
        first_open_ns = self._first_open_ns or now_ns
        since_ns = first_open_ns - first_open_ns % _MINUTE_NS
        floor = {symbol: self._last_bar_ns.get(symbol, since_ns - 1) for symbol in symbols}
        if min(floor.values()) + 1 > last_closed_ns:
            return None  # no minute has closed since the last bar: nothing can have been missed
        asset_class = "crypto" if self.asset_class == "crypto" else "stocks"
        history = AlpacaHistory(self.settings, http, asset_class=asset_class)
        try:
            bars = await history.bars(
                symbols, start_ns=min(floor.values()) + 1, end_ns=last_closed_ns
            )
        except AuthenticationError:
            raise
        except FeedError as error:
            log.warning("alpaca: minute bars missed while disconnected not filled: %s", error)
            return None
        missed = sorted(
            (b for b in bars if floor[b.instrument] < b.ts_event <= last_closed_ns
             and (b.instrument, b.ts_event) not in self._live_bars),
            key=lambda bar: bar.ts_event,
        )  # fmt: skip
        self.metrics.duplicates += sum(1 for b in bars if (b.instrument, b.ts_event)
                                       in self._live_bars)  # fmt: skip
        for bar in missed:
            self._last_bar_ns[bar.instrument] = max(bar.ts_event, self._last_bar_ns.get(
                bar.instrument, bar.ts_event))  # fmt: skip
        self.metrics.backfilled += len(missed)
        log.info("alpaca: backfilled %d minute bars of %d symbols", len(missed), len(symbols))
        return Normalized(missed) if missed else None


async def _control_messages(ws: aiohttp.ClientWebSocketResponse) -> list[dict[str, Any]]:
    frame = await receive_frame(ws)
    try:
        messages = _decoder.decode(frame)
    except msgspec.DecodeError as exc:
        raise FeedConnectionError(f"alpaca: not JSON during the handshake: {frame!r:.200}") from exc
    return [m for m in (messages if isinstance(messages, list) else [messages])
            if isinstance(m, dict)]  # fmt: skip
