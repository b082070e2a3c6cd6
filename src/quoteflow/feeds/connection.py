"""What every live feed shares: the reconnect loop, backoff with jitter, and feed metrics.

A provider client subclasses :class:`WebSocketFeed` and says how to open a
session (authenticate, subscribe, wait for the confirmations), how to turn one
frame into records, and, optionally, how to fill the gap a disconnect left.
The loop does the rest: connect, watch the socket (ping/pong heartbeat, idle
timeout), reconnect with exponential backoff and full jitter, open the session
again with every subscription, fill the gap, and stop cleanly when cancelled.

Authentication and subscription refusals are not retried: they would fail
again, and a provider may lock an account that keeps trying.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import aiohttp
import numpy as np

from quoteflow.errors import AuthenticationError, FeedConnectionError, SubscriptionError
from quoteflow.events import Quote, Ticker, Trade
from quoteflow.feeds.base import Normalized
from quoteflow.feeds.config import ConnectionPolicy

__all__ = [
    "Backoff",
    "ConnectionPolicy",
    "FeedMetrics",
    "WebSocketFeed",
    "receive_frame",
]

log = logging.getLogger("quoteflow.feeds")

_LAG_SAMPLES = 1 << 16
_LAG_SAMPLES_PER_FRAME = 8
_LIVE_TYPES = (Quote, Trade, Ticker)
"""Records whose ``ts_recv - ts_event`` is feed lag (a bar's ``ts_event`` is its start)."""


class Backoff:
    """Exponential backoff with full jitter: delay ~ U(0, min(max_s, initial_s * 2**n)).

    >>> b = Backoff(1.0, 8.0, rng=random.Random(1))
    >>> [round(b.next_delay(), 2) for _ in range(3)]
    [0.13, 1.69, 3.06]
    """

    def __init__(self, initial_s: float, max_s: float, *, rng: random.Random | None = None) -> None:
        self.initial_s = initial_s
        self.max_s = max_s
        self.failures = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        """Return how long to wait before the next attempt, and count the failure."""
        cap = min(self.max_s, self.initial_s * 2.0 ** min(self.failures, 62))
        self.failures += 1
        return self._rng.uniform(0.0, cap)

    def reset(self) -> None:
        """Start over from the initial delay (after a connection that worked)."""
        self.failures = 0


@dataclass
class FeedMetrics:
    """Counters of one live feed, and its lag (``ts_recv - ts_event``) over recent records.

    The lag is sampled: up to 8 records of each frame, the last 65,536 samples.

    ``records`` counts normalized records published, ``rejects`` dead letters,
    ``frames`` WebSocket frames, ``reconnects`` connections lost and re-opened,
    ``rebinds`` sessions moved to a new connection at the server's request (nothing lost),
    ``gaps`` disconnects or sequence jumps that may have lost data, ``backfilled``
    records fetched from the provider's history to fill gaps, ``duplicates``
    records dropped because they were already published.
    """

    feed: str
    records: int = 0
    rejects: int = 0
    frames: int = 0
    connections: int = 0
    reconnects: int = 0
    rebinds: int = 0
    gaps: int = 0
    backfilled: int = 0
    duplicates: int = 0
    _lags_ns: deque[int] = field(default_factory=lambda: deque(maxlen=_LAG_SAMPLES), repr=False)

    def observe(self, normalized: Normalized, ts_recv_ns: int) -> None:
        """Count one frame's records and sample their lag."""
        self.frames += 1
        self.records += len(normalized.events)
        self.rejects += len(normalized.rejects)
        events = normalized.events
        step = len(events) // _LAG_SAMPLES_PER_FRAME + 1  # a sample is enough for quantiles
        sampled = events[::step]
        self._lags_ns.extend(
            ts_recv_ns - event.ts_event for event in sampled if isinstance(event, _LIVE_TYPES)
        )

    def lag_ms(self, quantile: float) -> float | None:
        """Return the lag quantile (0.5 for the median) in ms over recent records, or None."""
        if not self._lags_ns:
            return None
        return float(np.quantile(np.fromiter(self._lags_ns, np.int64), quantile)) / 1e6

    def summary(self) -> dict[str, Any]:
        """Return every counter and the lag p50/p99 in ms, as plain data."""
        public = {f.name: getattr(self, f.name) for f in fields(self) if f.repr}
        return {**public, "lag_p50_ms": self.lag_ms(0.5), "lag_p99_ms": self.lag_ms(0.99)}

    def line(self) -> str:
        """Return the metrics as one log line."""
        p50, p99 = self.lag_ms(0.5), self.lag_ms(0.99)
        lag = "lag n/a" if p50 is None else f"lag p50 {p50:.1f} ms p99 {p99:.1f} ms"
        return (
            f"{self.feed}: {self.records:,} records, {self.rejects:,} rejects, "
            f"{self.reconnects} reconnects, {self.gaps} gaps ({self.backfilled:,} backfilled, "
            f"{self.duplicates:,} duplicates dropped), {lag}"
        )


class WebSocketFeed:
    """A feed over one WebSocket that reconnects, resubscribes and fills gaps.

    Subclasses set ``name`` and implement :meth:`_url`, :meth:`_open` and
    :meth:`_on_frame`; :meth:`_after_open` (a snapshot, due before live data),
    :meth:`_backfill` (what a disconnect missed, fetched while live data flows)
    and :meth:`_fill` (gaps found in frames) are optional.

    A server may ask to move the session to a new connection (Lightstreamer's
    ``LOOP``): :meth:`_on_frame` then sets ``_rebind``; the frame's records go
    out, the connection closes, and the next :meth:`_open` (which sees
    ``_rebind`` set) resumes the session at once: no reconnect, gap or back-fill.
    """

    name: ClassVar[str] = "websocket"
    compress: ClassVar[int] = 0
    """permessage-deflate window bits to ask the server for (0: no compression)."""

    def __init__(self, policy: ConnectionPolicy) -> None:
        self.policy = policy
        self.metrics = FeedMetrics(self.name)
        self._backoff = Backoff(policy.reconnect_initial_s, policy.reconnect_max_s)
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._outbox: list[str] = []
        self._pending_fills: list[Any] = []
        self._rebind = False

    def _url(self) -> str:
        """Return the WebSocket URL to connect to (after :meth:`_prepare`)."""
        raise NotImplementedError

    def _protocols(self) -> tuple[str, ...]:
        """Return the WebSocket subprotocols to ask for (none by default)."""
        return ()

    async def _prepare(self, http: aiohttp.ClientSession) -> None:
        """Do what must precede each connection, such as a REST login (nothing by default)."""

    async def _open(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Authenticate and subscribe on a fresh connection; return once confirmed."""
        raise NotImplementedError

    def _on_frame(self, frame: bytes, ts_recv_ns: int) -> Normalized | None:
        """Turn one frame into records (None for frames that carry none, like heartbeats)."""
        raise NotImplementedError

    def _after_open(
        self, http: aiohttp.ClientSession, *, reconnected: bool
    ) -> AsyncIterator[Normalized]:
        """Yield records due once a session is open: a snapshot, or what a disconnect missed."""
        return _nothing()

    async def _backfill(self, http: aiohttp.ClientSession) -> Normalized | None:
        """Return what a disconnect missed; runs after a reconnect, beside the live frames.

        Live records are not held while it runs (a rate-limited REST call may
        wait seconds); its records go out when it is done.
        """
        return None

    def _fill(self, http: aiohttp.ClientSession, gaps: list[Any]) -> AsyncIterator[Normalized]:
        """Yield the records of gaps :meth:`_on_frame` found (put in ``_pending_fills``).

        They go out before the records of the frame that revealed the gap.
        """
        return _nothing()

    async def _send(self, message: str) -> bool:
        """Send a text frame if connected; return whether it went out."""
        ws = self._ws
        if ws is None or ws.closed:
            return False
        await ws.send_str(message)
        return True

    async def stream(self) -> AsyncIterator[Normalized]:
        """Yield normalized frames until cancelled; reconnect whenever the connection drops.

        Raises :class:`~quoteflow.errors.AuthenticationError` or
        :class:`~quoteflow.errors.SubscriptionError` when the provider refuses.
        """
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.policy.open_timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            while True:
                try:
                    async for normalized in self._connection(http):
                        yield normalized
                    if self._rebind:
                        log.info("%s: the server moves the session to a new connection", self.name)
                        continue
                    reason = "closed by the server"
                except (AuthenticationError, SubscriptionError):
                    raise
                except FeedConnectionError as exc:
                    reason = str(exc)
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    reason = f"{type(exc).__name__}: {exc}".rstrip(": ")
                finally:
                    self._ws = None
                self._rebind = False  # a session lost on the way is opened afresh
                self.metrics.reconnects += 1
                delay = self._backoff.next_delay()
                log.warning("%s: disconnected (%s); reconnecting in %.2f s", self.name, reason,
                            delay)  # fmt: skip
                await asyncio.sleep(delay)

    async def _connection(self, http: aiohttp.ClientSession) -> AsyncIterator[Normalized]:
        async with asyncio.timeout(self.policy.open_timeout_s):
            await self._prepare(http)
        url = self._url()
        async with http.ws_connect(
            url,
            protocols=self._protocols(),
            heartbeat=self.policy.heartbeat_s,
            timeout=aiohttp.ClientWSTimeout(ws_receive=self.policy.idle_timeout_s, ws_close=2.0),
            max_msg_size=0,
            decode_text=False,
            compress=self.compress,
        ) as ws:
            async with asyncio.timeout(self.policy.open_timeout_s):
                await self._open(ws)
            resumed, self._rebind = self._rebind, False
            self._ws = ws
            self.metrics.connections += 1
            self.metrics.rebinds += resumed
            log.info("%s: connected to %s and subscribed", self.name, url)
            reconnected = self.metrics.connections > 1 and not resumed
            if reconnected:
                self.metrics.gaps += 1  # a disconnect may have lost records on every channel
            async for normalized in self._after_open(http, reconnected=reconnected):
                yield normalized
            if self._rebind:
                return
            backfill = asyncio.ensure_future(self._backfill(http)) if reconnected else None
            try:
                async for normalized in self._frames(ws, http, backfill):
                    yield normalized
            finally:
                if backfill is not None:
                    backfill.cancel()

    async def _frames(
        self,
        ws: aiohttp.ClientWebSocketResponse,
        http: aiohttp.ClientSession,
        backfill: asyncio.Future[Normalized | None] | None,
    ) -> AsyncIterator[Normalized]:
        data_types = (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY)
        receiving: asyncio.Future[aiohttp.WSMessage] | None = None
        try:
            while True:
                if backfill is not None:  # read frames in a task, to wait on both at once
                    receiving = receiving or asyncio.ensure_future(ws.receive())
                    await asyncio.wait({receiving, backfill}, return_when=asyncio.FIRST_COMPLETED)
                    if backfill.done():
                        filled, backfill = backfill.result(), None
                        if filled is not None:
                            yield filled
                        continue
                if receiving is not None:
                    message, receiving = await receiving, None
                else:
                    message = await ws.receive()
                if message.type in data_types:
                    ts_recv_ns = time.time_ns()
                    normalized = self._on_frame(message.data, ts_recv_ns)
                    for answer in self._outbox:
                        await ws.send_str(answer)
                    self._outbox.clear()
                    if self._pending_fills:
                        gaps, self._pending_fills = self._pending_fills, []
                        async for filled in self._fill(http, gaps):
                            yield filled
                    if normalized is not None:
                        self._backoff.reset()
                        self.metrics.observe(normalized, ts_recv_ns)
                        yield normalized
                    if self._rebind:
                        return
                elif message.type is aiohttp.WSMsgType.ERROR:
                    raise FeedConnectionError(f"connection failed: {ws.exception()!r}")
                elif message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                                      aiohttp.WSMsgType.CLOSING):  # fmt: skip
                    raise FeedConnectionError(f"closed by the server (code {ws.close_code})")
        finally:
            if receiving is not None:
                receiving.cancel()


async def _nothing() -> AsyncIterator[Normalized]:
    return
    yield


async def receive_frame(ws: aiohttp.ClientWebSocketResponse) -> bytes:
    """Return the next data frame of a handshake; raise FeedConnectionError if the socket closes."""
    while True:
        message = await ws.receive()
        if message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
            return message.data if isinstance(message.data, bytes) else message.data.encode()
        if message.type in (aiohttp.WSMsgType.PING, aiohttp.WSMsgType.PONG):
            continue
        raise FeedConnectionError(
            f"connection closed during the handshake (code {ws.close_code}, {message.type.name})"
        )
