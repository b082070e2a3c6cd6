"""One subscriber's WebSocket connection: authentication, subscriptions, sending.

The protocol is in :mod:`quoteflow.gateway.protocol`. A connection reads
requests and sends records in two tasks; records reach it through a bounded
:class:`~quoteflow.gateway.hub.Subscription`, so a client that cannot keep up
only fills its own queue and is then closed (``SLOW_CONSUMER``), or conflated
if it asked for that. Nothing a key is not entitled to is ever queued for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from fnmatch import fnmatchcase

import msgspec
from starlette.websockets import WebSocket, WebSocketDisconnect

from quoteflow.access.keys import ApiKey
from quoteflow.gateway.errors import CloseConnectionError, ResumeGapError
from quoteflow.gateway.hub import Piece, Subscription
from quoteflow.gateway.limits import MessageRate
from quoteflow.gateway.protocol import Auth, Subscribe, Unsubscribe, decode_request, message
from quoteflow.gateway.service import Gateway
from quoteflow.http.websocket import CloseCode

__all__ = ["FRAME_RECORDS", "StreamConnection", "serve_stream"]

_WILDCARDS = frozenset("*?[")
FRAME_RECORDS = 500
"""Records per WebSocket frame at most (about 250 kB): within clients' default frame limits."""


def _matches(instrument: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatchcase(instrument, pattern) for pattern in patterns)


def _remote(websocket: WebSocket) -> str | None:
    client = websocket.client
    return f"{client.host}:{client.port}" if client else None


async def _receive_text(websocket: WebSocket) -> str:
    received = await websocket.receive()
    if received["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(received.get("code", 1000))
    text = received.get("text")
    if text is None:
        raise CloseConnectionError(
            CloseCode.BAD_REQUEST, "requests are JSON text frames", "bad_request"
        )
    return text


async def _authenticate(gateway: Gateway, websocket: WebSocket) -> tuple[ApiKey, Auth]:
    remote = _remote(websocket)
    try:
        async with asyncio.timeout(gateway.options.auth_timeout_s):
            text = await _receive_text(websocket)
    except TimeoutError:
        gateway.audit("refuse", remote=remote, reason="auth_timeout")
        raise CloseConnectionError(
            CloseCode.UNAUTHENTICATED, "no auth request in time", "unauthenticated"
        ) from None
    try:
        request = decode_request(text)
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        gateway.audit("refuse", remote=remote, reason="bad_request")
        raise CloseConnectionError(
            CloseCode.BAD_REQUEST, f"bad request: {error}", "bad_request"
        ) from None
    if not isinstance(request, Auth):
        gateway.audit("refuse", remote=remote, reason="unauthenticated")
        raise CloseConnectionError(
            CloseCode.UNAUTHENTICATED, "the first request must be auth", "unauthenticated"
        )
    key = await gateway.authenticator.check(request.key)
    if key is None:
        gateway.audit("refuse", remote=remote, reason="unknown_or_revoked_key")
        raise CloseConnectionError(
            CloseCode.UNAUTHENTICATED, "unknown or revoked API key", "unauthenticated"
        )
    if not gateway.limits.acquire(key.key_id, key.max_connections):
        gateway.audit("refuse", key, remote, reason="too_many_connections")
        raise CloseConnectionError(
            CloseCode.TOO_MANY_CONNECTIONS,
            f"key {key.name!r} has its {key.max_connections} connections open already",
            "too_many_connections",
        )
    return key, request


async def serve_stream(gateway: Gateway, websocket: WebSocket) -> None:
    """Run one WebSocket connection from accept to close."""
    await websocket.accept()
    try:
        key, auth = await _authenticate(gateway, websocket)
    except CloseConnectionError as closing:
        await _close(websocket, closing)
        return
    except WebSocketDisconnect:
        return
    connection = StreamConnection(gateway, websocket, key, conflate=auth.conflate)
    try:
        await connection.run()
    finally:
        gateway.limits.release(key.key_id)


async def _close(websocket: WebSocket, closing: CloseConnectionError) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError, TimeoutError):
        async with asyncio.timeout(2.0):
            await websocket.send_text(
                message("error", code=closing.error, message=closing.reason).decode()
            )
            await websocket.close(int(closing.code), closing.reason[:120])


class StreamConnection:
    """An authenticated connection: its key, what it subscribed to, and its queue."""

    def __init__(
        self, gateway: Gateway, websocket: WebSocket, key: ApiKey, *, conflate: bool
    ) -> None:
        self.gateway = gateway
        self.websocket = websocket
        self.key = key
        self.remote = _remote(websocket)
        self.interests: dict[str, tuple[str, ...]] = {}
        self.subscription = Subscription(
            self.wants, capacity=gateway.options.send_queue, conflate=conflate
        )
        self._requests = MessageRate(
            gateway.options.requests_per_s, burst=5 * gateway.options.requests_per_s
        )
        self._rate = gateway.rate(key)
        self._throttled_until = 0.0
        self._ended = asyncio.Event()
        self._closing: CloseConnectionError | None = None

    def wants(self, channel: str, instrument: str) -> bool:
        """Return whether this connection subscribed to, and may see, the instrument."""
        patterns = self.interests.get(channel)
        return (
            bool(patterns)
            and _matches(instrument, patterns)
            and self.key.allows(channel, instrument)
        )

    def _end(self, closing: CloseConnectionError) -> None:
        if self._closing is None:
            self._closing = closing
        self._ended.set()

    def revoke(self) -> None:
        """Close the connection: its key was revoked."""
        self._end(CloseConnectionError(CloseCode.REVOKED, "the API key was revoked", "revoked"))

    async def run(self) -> None:
        """Serve requests and send records until either side ends the connection."""
        gateway = self.gateway
        gateway.connections.add(self)
        gateway.metrics.connections.inc()
        gateway.hub.subscribe(self.subscription)
        gateway.audit("connect", self.key, self.remote)
        self.subscription.put(
            message(
                "welcome",
                key=self.key.name,
                epoch=gateway.epoch,
                channels=list(self.key.channels),
                instruments=list(self.key.instruments),
            )
        )
        tasks = [
            asyncio.create_task(self._read()),
            asyncio.create_task(self._write()),
            asyncio.create_task(self._watch_overflow()),
            asyncio.create_task(self._ended.wait()),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            failed = [t.exception() for t in done if not t.cancelled() and t.exception()]
            if failed and not isinstance(failed[0], WebSocketDisconnect | OSError):
                raise failed[0]
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            gateway.hub.unsubscribe(self.subscription)
            gateway.connections.discard(self)
            gateway.metrics.connections.dec()
            closing = self._closing
            if closing is not None:
                gateway.metrics.closes.labels(closing.code.name.lower()).inc()
                await _close(self.websocket, closing)
            gateway.audit(
                "disconnect", self.key, self.remote, code=int(closing.code) if closing else None
            )

    async def _read(self) -> None:
        while True:
            try:
                text = await _receive_text(self.websocket)
            except WebSocketDisconnect:
                return
            except CloseConnectionError as closing:
                self._end(closing)
                return
            if not self._requests.take():
                self.gateway.audit("refuse", self.key, self.remote, reason="rate_limited")
                self._end(
                    CloseConnectionError(
                        CloseCode.RATE_LIMITED, "requests sent too fast", "rate_limited"
                    )
                )
                return
            try:
                request = decode_request(text)
            except (msgspec.ValidationError, msgspec.DecodeError) as error:
                self._refused("bad_request", f"bad request: {error}")
                continue
            if isinstance(request, Subscribe):
                await self._subscribe(request)
            elif isinstance(request, Unsubscribe):
                self.interests.pop(request.channel, None)
                self.gateway.hub.interests_changed(self.subscription)
                self.subscription.put(message("unsubscribed", channel=request.channel))
            else:
                self._refused("bad_request", "already authenticated")

    def _refused(self, reason: str, text: str, **details: object) -> None:
        self.gateway.audit("refuse", self.key, self.remote, reason=reason, **details)
        self.subscription.put(message("error", code=reason, message=text, **details))

    async def _subscribe(self, request: Subscribe) -> None:
        channel, patterns = request.channel, tuple(request.instruments)
        key, gateway = self.key, self.gateway
        if not gateway.knows(channel):
            known = ", ".join(gateway.channels)
            self._refused(
                "unknown_channel", f"no channel {channel!r}; channels: {known}", channel=channel
            )
            return
        if not any(fnmatchcase(channel, allowed) for allowed in key.channels):
            self._refused(
                "forbidden", f"key {key.name!r} is not entitled to {channel}", channel=channel
            )
            return
        if not patterns or not all(patterns):
            self._refused(
                "bad_request",
                "instruments: name at least one instrument or pattern",
                channel=channel,
            )
            return
        limit = gateway.options.max_patterns
        if len(patterns) > limit:
            self._refused(
                "too_many_patterns",
                f"instruments: {len(patterns):,} named, at most {limit:,} per subscription "
                "(use a pattern such as BTC-* for many)",
                channel=channel,
            )
            return
        named = [p for p in patterns if not _WILDCARDS & set(p)]
        denied = [name for name in named if not key.allows(channel, name)]
        if denied:
            self._refused(
                "forbidden",
                f"key {key.name!r} is not entitled to {', '.join(denied)} on {channel}",
                channel=channel,
            )
            return

        def wanted(c: str, instrument: str) -> bool:
            return _matches(instrument, patterns) and key.allows(c, instrument)

        resume = request.resume
        snapshot = None
        replayed: list = []
        if resume is not None:
            try:
                if resume.epoch != gateway.epoch or resume.after > gateway.hub.sequence(channel):
                    raise ResumeGapError.missing(channel, resume.after, 1)
                replayed = await gateway.resume(channel, resume.after, wanted)
            except ResumeGapError as gap:
                text = (
                    str(gap)
                    if resume.epoch == gateway.epoch
                    else f"{channel}: the gateway restarted (epoch {gateway.epoch}); "
                    "subscribe without resume for a snapshot"
                )
                self._refused("resume_gap", text, channel=channel)
                return
        else:
            snapshot = [msgspec.Raw(d.payload) for d in gateway.hub.snapshot(channel, wanted)]
        # from here to the end nothing awaits: live records start right after the replay
        self.interests[channel] = patterns
        self.gateway.hub.interests_changed(self.subscription)
        reply = {
            "channel": channel,
            "instruments": list(patterns),
            "epoch": gateway.epoch,
            "sequence": gateway.hub.sequence(channel),
        }
        if snapshot is not None:
            self.subscription.put(message("subscribed", **reply, snapshot=snapshot))
        else:
            self.subscription.put(message("subscribed", **reply, replayed=len(replayed)))
            if replayed:
                self.subscription.put(Piece(replayed))
        gateway.audit(
            "subscribe",
            key,
            self.remote,
            channel=channel,
            instruments=list(patterns),
            resume_after=resume.after if resume else None,
        )

    async def _write(self) -> None:
        subscription, websocket = self.subscription, self.websocket
        while True:
            items = await subscription.next()
            if subscription.overflowed:
                return
            pieces: list[Piece] = []
            for item in items:
                if isinstance(item, Piece):
                    pieces.append(item)
                    continue
                if pieces:
                    await self._send_records(pieces)
                    pieces = []
                await websocket.send_text(item.decode())
            if pieces:
                await self._send_records(pieces)

    async def _send_records(self, pieces: list[Piece]) -> None:
        """Send records as JSON arrays of at most FRAME_RECORDS, then keep to the rate."""
        count = sum([len(p.deliveries) for p in pieces])
        if count <= FRAME_RECORDS:
            body = pieces[0].body if len(pieces) == 1 else b",".join(p.body for p in pieces)
            await self.websocket.send_text("[" + body.decode() + "]")
        else:
            payloads = [d.payload for p in pieces for d in p.deliveries]
            for start in range(0, count, FRAME_RECORDS):
                body = b",".join(payloads[start : start + FRAME_RECORDS])
                await self.websocket.send_text("[" + body.decode() + "]")
        self.gateway.metrics.delivered += count
        wait = self._rate.spend(count)
        if wait > 0:
            self._throttled_until = time.monotonic() + wait + 1.0
            await asyncio.sleep(wait)

    async def _watch_overflow(self) -> None:
        await self.subscription.overflow.wait()
        self._overflowed()

    def _overflowed(self) -> None:
        if time.monotonic() < self._throttled_until:
            rate = f"{self.key.max_messages_per_s:,.0f}"
            self._end(
                CloseConnectionError(
                    CloseCode.RATE_LIMITED,
                    f"more than the key's {rate} messages/s for too long",
                    "rate_limited",
                )
            )
        else:
            self._end(
                CloseConnectionError(
                    CloseCode.SLOW_CONSUMER,
                    "the client read too slowly; its send queue was full",
                    "slow_consumer",
                )
            )
