"""Subscribe to a quoteflow gateway from Python: records as an async iterator.

::

    from quoteflow.gateway.client import GatewayClient

    client = GatewayClient("ws://localhost:8765/v1/stream", key,
                           {"quotes.enriched": ["AMZN"], "alerts": ["*"]})
    async for record in client:
        print(record["instrument"], record["bidPrice"])

Each record is a dict: ``channel`` and ``seq`` (the channel's sequence
number), then the reference record (``provider``, ``type``, ``instrument``,
camelCase fields, millisecond timestamps). On subscribing the client first gets
the latest record of every instrument (the snapshot). When the connection drops
the client reconnects with backoff and resumes each channel after the last
sequence number it yielded, so records arrive once each and in order. If the
gateway no longer has what is missing (it restarted, or the client was away for
too long), the client says so in ``gaps`` and starts over from a snapshot, or
raises :class:`~quoteflow.gateway.hub.ResumeGapError` with ``on_gap="raise"``.
A refused key raises :class:`~quoteflow.errors.AuthenticationError`, a refused
subscription :class:`~quoteflow.errors.SubscriptionError`; neither is retried.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Literal

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from quoteflow.errors import AuthenticationError, QuoteflowError, SubscriptionError
from quoteflow.feeds.connection import Backoff
from quoteflow.gateway.errors import ResumeGapError
from quoteflow.http.websocket import CloseCode

__all__ = ["GatewayClient"]

log = logging.getLogger(__name__)

_REFUSED = {CloseCode.UNAUTHENTICATED, CloseCode.REVOKED, CloseCode.TOO_MANY_CONNECTIONS}
_CLOSING_ERRORS = {"unauthenticated", "revoked", "too_many_connections", "slow_consumer",
                   "rate_limited"}  # fmt: skip


class GatewayClient:
    """Records of ``subscriptions`` (channel -> instruments or patterns) from a gateway."""

    def __init__(
        self,
        url: str,
        key: str,
        subscriptions: Mapping[str, Sequence[str]],
        *,
        conflate: bool = False,
        reconnect: bool = True,
        on_gap: Literal["snapshot", "raise"] = "snapshot",
        reconnect_initial_s: float = 0.2,
        reconnect_max_s: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if not subscriptions:
            raise ValueError("subscribe to at least one channel")
        self.url = url
        self.subscriptions = {c: list(i) for c, i in subscriptions.items()}
        self.conflate = conflate
        self.reconnect = reconnect
        self.on_gap = on_gap
        self.ssl_context = ssl_context
        self.epoch: str | None = None
        self.last: dict[str, int] = {}
        """The sequence number of the last record yielded, per channel."""
        self.gaps: list[str] = []
        """What the gateway could not resume, one message per occasion."""
        self.connections = 0
        self._key = key
        self._backoff = Backoff(reconnect_initial_s, reconnect_max_s)

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._records()

    async def _records(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            try:
                async with connect(self.url, ssl=self.ssl_context, max_size=None,
                                   open_timeout=10) as websocket:  # fmt: skip
                    self.connections += 1
                    async for record in self._session(websocket):
                        yield record
                return
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else None
                reason = closed.rcvd.reason if closed.rcvd else "connection lost"
                if code in _REFUSED:
                    raise AuthenticationError(f"gateway: {reason} (close code {code})") from None
                if code == CloseCode.BAD_REQUEST:
                    raise QuoteflowError(f"gateway: {reason}") from None
                log.warning("gateway connection closed (%s %s); resuming", code, reason)
            except (OSError, TimeoutError, InvalidHandshake) as error:
                log.warning("gateway %s unreachable: %s", self.url, error)
            except InvalidURI as error:
                raise ValueError(f"not a WebSocket URL: {self.url}") from error
            if not self.reconnect:
                return
            await asyncio.sleep(self._backoff.next_delay())

    async def _session(self, websocket: ClientConnection) -> AsyncIterator[dict[str, Any]]:
        await websocket.send(msgspec.json.encode(
            {"op": "auth", "key": self._key, "conflate": self.conflate}).decode())  # fmt: skip
        for channel, instruments in self.subscriptions.items():
            await websocket.send(self._subscribe(channel, instruments))
        async for frame in websocket:
            decoded = msgspec.json.decode(frame)
            if isinstance(decoded, list):
                self._backoff.failures = 0
                for record in decoded:
                    channel, seq = record["channel"], record["seq"]
                    if seq > self.last.get(channel, 0):
                        self.last[channel] = seq
                        yield record
                continue
            for record in await self._control(websocket, decoded):
                yield record

    def _subscribe(self, channel: str, instruments: list[str], *, resume: bool = True) -> str:
        request: dict[str, Any] = {"op": "subscribe", "channel": channel,
                                   "instruments": instruments}  # fmt: skip
        if resume and self.epoch is not None and channel in self.last:
            request["resume"] = {"epoch": self.epoch, "after": self.last[channel]}
        return msgspec.json.encode(request).decode()

    async def _control(self, websocket: ClientConnection, message: dict[str, Any]) -> list[dict]:
        """Act on a control message; return the snapshot records it carries."""
        op = message.get("op")
        if op == "subscribed" and "snapshot" in message:
            channel = message["channel"]
            if self.epoch not in (None, message["epoch"]):
                self.last.pop(channel, None)
            self.epoch = message["epoch"]
            records = message["snapshot"]
            self.last[channel] = max(self.last.get(channel, 0), message["sequence"])
            return records
        if op == "error":
            code, text = message.get("code"), message.get("message", "")
            if code == "resume_gap":
                self.gaps.append(text)
                if self.on_gap == "raise":
                    raise ResumeGapError(text)
                log.warning("gateway: %s; starting over from a snapshot", text)
                channel = message["channel"]
                self.last.pop(channel, None)
                await websocket.send(self._subscribe(channel, self.subscriptions[channel],
                                                     resume=False))  # fmt: skip
                return []
            if code in ("forbidden", "unknown_channel", "bad_request"):
                raise SubscriptionError(f"gateway refused: {text}")
            if code not in _CLOSING_ERRORS:  # those are reported with the close that follows
                log.warning("gateway: %s", text)
        return []
