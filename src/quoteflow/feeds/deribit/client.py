"""Deribit's JSON-RPC 2.0 WebSocket API: ticker and trade channels, heartbeats, gap filling.

Session: optional ``public/auth`` (client credentials; public market data needs
none), ``public/set_heartbeat``, then ``public/subscribe`` to
``ticker.{instrument}.{interval}`` (and ``trades.{instrument}.{interval}``);
the session is open once the answer lists every channel. Deribit then sends
``test_request`` heartbeats that must be answered with ``public/test``, or it
closes the connection; a socket without any frame for three heartbeat
intervals is dropped. Every trade carries the instrument's ``trade_seq``: a
jump (after a reconnect, or a lost notification) is filled from
``public/get_last_trades_by_instrument`` before the trade that revealed it.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, ClassVar

import aiohttp
import msgspec

from quoteflow.errors import (
    AuthenticationError,
    FeedConnectionError,
    FeedError,
    NormalizeError,
    SubscriptionError,
)
from quoteflow.events import Event
from quoteflow.feeds.base import Normalized, reject
from quoteflow.feeds.config import ConnectionPolicy
from quoteflow.feeds.connection import WebSocketFeed, receive_frame
from quoteflow.feeds.deribit.config import DeribitSettings
from quoteflow.feeds.deribit.parsing import (
    PROVIDER,
    parse_frame,
    parse_trade,
    parse_trades_frame,
)
from quoteflow.feeds.deribit.public_api import DeribitPublicApi
from quoteflow.feeds.deribit.schemas import DeribitTrade

__all__ = ["DeribitStream"]

log = logging.getLogger("quoteflow.feeds")

_decoder = msgspec.json.Decoder()
_AUTH_ERRORS = frozenset({13004, 13009, 13010})
"""invalid_credentials, unauthorized, value_required (a credential missing)."""


class DeribitStream(WebSocketFeed):
    """Stream tickers (and trades) of Deribit instruments.

    ``interval`` is Deribit's notification interval: ``100ms`` (public),
    ``agg2``, or ``raw`` (needs client credentials). ``snapshot_currencies``
    sends a snapshot ticker of every option of those currencies from
    ``public/get_book_summary_by_currency`` whenever a session opens.

    >>> DeribitStream(DeribitSettings(), ["BTC-PERPETUAL"]).channels
    ['ticker.BTC-PERPETUAL.100ms', 'trades.BTC-PERPETUAL.100ms']
    """

    name: ClassVar[str] = "deribit"

    def __init__(
        self,
        settings: DeribitSettings,
        instruments: Sequence[str],
        *,
        interval: str = "100ms",
        trades: bool = True,
        snapshot_currencies: Sequence[str] = (),
        policy: ConnectionPolicy | None = None,
    ) -> None:
        policy = policy or settings.policy()
        if policy.idle_timeout_s is None:
            policy = dataclasses.replace(policy, idle_timeout_s=3 * settings.heartbeat_interval_s)
        super().__init__(policy)
        if not instruments:
            raise ValueError("deribit: give at least one instrument")
        self.settings = settings
        self.interval = interval
        self.trades = trades
        self.snapshot_currencies = tuple(snapshot_currencies)
        self.channels: list[str] = []
        self.confirmed: set[str] = set()
        self._instruments: list[str] = []
        self._add(instruments)
        self._next_id = 0
        self._last_seq: dict[str, int] = {}

    def _add(self, instruments: Sequence[str]) -> list[str]:
        added = [i for i in dict.fromkeys(instruments) if i not in self._instruments]
        self._instruments.extend(added)
        channels = [f"ticker.{i}.{self.interval}" for i in added]
        if self.trades:
            channels += [f"trades.{i}.{self.interval}" for i in added]
        self.channels.extend(channels)
        return channels

    def _url(self) -> str:
        return self.settings.stream_url

    def _request(self, method: str, params: dict[str, Any]) -> tuple[int, str]:
        self._next_id += 1
        request = {"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params}
        return self._next_id, msgspec.json.encode(request).decode()

    async def _call(self, ws: aiohttp.ClientWebSocketResponse, method: str, params: dict) -> Any:
        """Send one request during the handshake and return its result."""
        request_id, request = self._request(method, params)
        await ws.send_str(request)
        while True:
            frame = await receive_frame(ws)
            try:
                message = _decoder.decode(frame)
            except msgspec.DecodeError as exc:
                raise FeedConnectionError(f"deribit: not JSON: {frame!r:.200}") from exc
            if not isinstance(message, dict):
                continue
            if message.get("id") == request_id:
                if "error" in message:
                    raise _error_of(method, message["error"])
                return message.get("result")
            self._answer_heartbeat(message)
            for answer in self._outbox:
                await ws.send_str(answer)
            self._outbox.clear()

    async def _open(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        settings = self.settings
        if settings.client_id is not None and settings.client_secret is not None:
            await self._call(ws, "public/auth", {
                "grant_type": "client_credentials",
                "client_id": settings.client_id.get_secret_value(),
                "client_secret": settings.client_secret.get_secret_value(),
            })  # fmt: skip
        await self._call(ws, "public/set_heartbeat", {"interval": settings.heartbeat_interval_s})
        result = await self._call(ws, "public/subscribe", {"channels": self.channels})
        self.confirmed = set(result or ())
        missing = [channel for channel in self.channels if channel not in self.confirmed]
        if missing:
            raise SubscriptionError(f"deribit: the server did not confirm {missing}")

    @property
    def instruments(self) -> list[str]:
        """Return the instruments subscribed (or to subscribe on connecting), in order."""
        return list(self._instruments)

    async def subscribe(self, instruments: Sequence[str]) -> None:
        """Add instruments now (if connected) and after every reconnect."""
        channels = self._add(instruments)
        if channels:
            await self._send(self._request("public/subscribe", {"channels": channels})[1])

    def _answer_heartbeat(self, message: dict[str, Any]) -> bool:
        if message.get("method") != "heartbeat":
            return False
        params = message.get("params")
        if isinstance(params, dict) and params.get("type") == "test_request":
            self._outbox.append(self._request("public/test", {})[1])
        return True

    def _on_frame(self, frame: bytes, ts_recv_ns: int) -> Normalized | None:
        if b'"subscription"' in frame:
            if b'"trades.' in frame:
                normalized, raw_trades = parse_trades_frame(frame, ts_recv_ns)
                normalized.events = self._in_sequence(normalized.events, raw_trades)
                return normalized
            return parse_frame(frame, ts_recv_ns)
        return self._control(frame, ts_recv_ns)

    def _control(self, frame: bytes, ts_recv_ns: int) -> Normalized | None:
        """Handle heartbeats and answers to requests; anything else is a dead letter."""
        try:
            message = _decoder.decode(frame)
        except msgspec.DecodeError as exc:
            error = NormalizeError("$", f"not valid JSON: {exc}")
        else:
            if isinstance(message, dict) and self._answer_heartbeat(message):
                return None
            if isinstance(message, dict) and "id" in message:
                if "error" in message:
                    log.warning("deribit: request %s failed: %s", message["id"], message["error"])
                elif isinstance(message.get("result"), list):
                    self.confirmed.update(c for c in message["result"] if isinstance(c, str))
                return None
            error = NormalizeError("method", "not a subscription notification or an answer")
        payload = frame.decode("utf-8", errors="replace")
        return Normalized([], [reject(PROVIDER, ts_recv_ns, error, payload)])

    def _in_sequence(self, events: list[Event], raw_trades: list[DeribitTrade]) -> list[Event]:
        """Drop trades already published; note jumps in ``trade_seq`` as gaps to fill."""
        kept: list[Event] = []
        for event, raw in zip(events, raw_trades, strict=True):
            last = self._last_seq.get(raw.instrument_name)
            if last is not None and raw.trade_seq <= last:
                self.metrics.duplicates += 1
                continue
            if last is not None and raw.trade_seq > last + 1:
                self.metrics.gaps += 1
                self._pending_fills.append((raw.instrument_name, last + 1, raw.trade_seq - 1))
            self._last_seq[raw.instrument_name] = raw.trade_seq
            kept.append(event)
        return kept

    async def _fill(
        self, http: aiohttp.ClientSession, gaps: list[tuple[str, int, int]]
    ) -> AsyncIterator[Normalized]:
        api = DeribitPublicApi(self.settings, http)
        for instrument, first, last in gaps:
            try:
                trades = await api.trades(instrument, first, last)
            except AuthenticationError:
                raise
            except FeedError as error:
                log.warning("deribit: trades %d-%d of %s not filled: %s", first, last,
                            instrument, error)  # fmt: skip
                continue
            ts_recv_ns = time.time_ns()
            filled = [parse_trade(t, ts_recv_ns) for t in trades if first <= t.trade_seq <= last]
            self.metrics.backfilled += len(filled)
            log.info("deribit: filled trades %d-%d of %s (%d trades)", first, last, instrument,
                     len(filled))  # fmt: skip
            if filled:
                yield Normalized(filled)

    async def _after_open(
        self, http: aiohttp.ClientSession, *, reconnected: bool
    ) -> AsyncIterator[Normalized]:
        api = DeribitPublicApi(self.settings, http)
        wanted = set(self._instruments)
        for currency in self.snapshot_currencies:
            tickers = [t for t in await api.book_summaries(currency) if t.instrument in wanted]
            if tickers:
                yield Normalized(list(tickers))


def _error_of(method: str, error: Any) -> FeedError:
    code = error.get("code") if isinstance(error, dict) else None
    text = f"{method}: {error}"
    if code in _AUTH_ERRORS:
        return AuthenticationError(
            f"deribit: authentication failed ({text}); check QUOTEFLOW_DERIBIT__CLIENT_ID and "
            "QUOTEFLOW_DERIBIT__CLIENT_SECRET"
        )
    if method.endswith("subscribe"):
        return SubscriptionError(f"deribit: subscription refused ({text})")
    return FeedConnectionError(f"deribit: {text}")
